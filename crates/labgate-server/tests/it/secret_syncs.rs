//! `/api/v1/secret-syncs/gitlab`: Infisical's shapes, errors, the dry-run plan (no writes at
//! GitLab, counted by the simulator) and the action endpoints' pending status.

use gitlab_sim::Seed;
use labgate_testkit::TestEnv;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/secret-syncs/gitlab";
const ALICE: &str = "glpat-aliceALICEalice1234";

struct Setup {
    env: TestEnv,
    connection: String,
    project: String,
}

async fn setup() -> Setup {
    let seed = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .project("acme/api", "API")
        .member("acme", "alice", 40)
        .personal_token("alice", "ci", &["api"], ALICE)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let url = env.sim().url().to_owned();
    let reply = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({"name": "alice", "method": "access-token",
                "credentials": {"accessToken": ALICE, "instanceUrl": url, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let connection = reply.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    let project = env
        .services
        .secrets
        .create_project(&env.admin, "Payments", None, None)
        .await
        .unwrap();
    let folder = labgate_core::secrets::Folder {
        project: project.id.clone(),
        environment: labgate_core::secrets::EnvironmentSlug::parse("prod").unwrap(),
        path: labgate_core::secrets::SecretPath::root(),
    };
    for (key, value) in [("DB_URL", "postgres://db"), ("TOKEN", "tok-123456789")] {
        env.services
            .secrets
            .create(
                &env.admin,
                &folder,
                labgate_core::secrets::NewSecret {
                    key: labgate_core::secrets::SecretKey::parse(key).unwrap(),
                    value: secrecy::SecretString::from(value.to_owned()),
                    comment: None,
                    tags: None,
                },
            )
            .await
            .unwrap();
    }
    Setup {
        env,
        connection,
        project: project.id.to_string(),
    }
}

fn body(s: &Setup, name: &str, destination: Value) -> Value {
    json!({
        "name": name,
        "connectionId": s.connection,
        "projectId": s.project,
        "environment": "prod",
        "secretPath": "/",
        "isAutoSyncEnabled": false,
        "destinationConfig": destination,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
    })
}

#[tokio::test]
async fn a_sync_is_created_shown_listed_and_found_by_name_in_infisicals_shape() {
    let s = setup().await;
    let key = &s.env.admin_key;
    let reply = s
        .env
        .call(
            "POST",
            BASE,
            key,
            Some(body(
                &s,
                "to-api",
                json!({"scope": "project", "projectId": "acme/api"}),
            )),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let sync = reply.json()["secretSync"].clone();
    for field in [
        "id",
        "name",
        "description",
        "connectionId",
        "connection",
        "projectId",
        "environment",
        "folder",
        "isAutoSyncEnabled",
        "destination",
        "destinationConfig",
        "syncOptions",
        "syncStatus",
        "lastSyncJobId",
        "lastSyncMessage",
        "lastSyncedAt",
        "importStatus",
        "lastImportJobId",
        "lastImportMessage",
        "lastImportedAt",
        "removeStatus",
        "lastRemoveJobId",
        "lastRemoveMessage",
        "lastRemovedAt",
        "createdAt",
        "updatedAt",
    ] {
        assert!(sync.get(field).is_some(), "{field} missing from {sync}");
    }
    assert_eq!(sync["destination"], "gitlab");
    assert_eq!(
        sync["connection"],
        json!({"app": "gitlab", "name": "alice", "id": s.connection})
    );
    assert_eq!(sync["environment"]["slug"], "prod");
    assert_eq!(sync["folder"], json!({"path": "/"}));
    assert_eq!(sync["destinationConfig"]["projectName"], "acme/api");
    let id = sync["id"].as_str().unwrap();

    let shown = s.env.get(&format!("{BASE}/{id}"), Some(key)).await.json();
    assert_eq!(shown["secretSync"]["id"], id);
    let list = s
        .env
        .get(&format!("{BASE}?projectId={}", s.project), Some(key))
        .await
        .json();
    assert_eq!(list["secretSyncs"].as_array().map(Vec::len), Some(1));
    let by_name = s
        .env
        .get(
            &format!("{BASE}/sync-name/to-api?projectId={}", s.project),
            Some(key),
        )
        .await
        .json();
    assert_eq!(by_name["secretSync"]["id"], id);
    s.env
        .get(
            &format!("{BASE}/sync-name/nothing?projectId={}", s.project),
            Some(key),
        )
        .await
        .error(404, "NotFound");
    s.env
        .get(&format!("{BASE}/not-a-uuid"), Some(key))
        .await
        .error(422, "ValidationFailure");
    s.env
        .get(&format!("{BASE}/{id}"), Some(&s.env.other_admin_key))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let s = setup().await;
    let key = &s.env.admin_key;
    let reply = s
        .env
        .call(
            "POST",
            BASE,
            key,
            Some(body(
                &s,
                "x",
                json!({"scope": "project", "projectId": "acme/none"}),
            )),
        )
        .await;
    let error = reply.error(422, "ValidationFailure");
    assert!(
        error["message"].as_str().unwrap().contains("acme/none"),
        "{error}"
    );
    assert_eq!(error["details"][0]["field"], "destinationConfig.projectId");
    let reply = s
        .env
        .call(
            "POST",
            BASE,
            key,
            Some(body(&s, "x", json!({"scope": "project"}))),
        )
        .await;
    reply.error(422, "ValidationFailure");
    let reply = s
        .env
        .call(
            "POST",
            BASE,
            key,
            Some(body(&s, "x", json!({"scope": "galaxy", "projectId": "1"}))),
        )
        .await;
    assert_eq!(
        reply.status.as_u16(),
        422,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let mut bad_env = body(&s, "x", json!({"scope": "project", "projectId": "acme/api"}));
    bad_env["environment"] = json!("nowhere");
    s.env
        .call("POST", BASE, key, Some(bad_env))
        .await
        .error(422, "ValidationFailure");
    let id = uuid::Uuid::now_v7();
    s.env
        .call(
            "POST",
            &format!("{BASE}/{id}/import-secrets?importBehavior=sideways"),
            key,
            None,
        )
        .await
        .error(422, "ValidationFailure");
    s.env
        .call("POST", &format!("{BASE}/{id}/sync-secrets"), key, None)
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn the_plan_writes_nothing_and_an_action_answers_pending_with_its_job() {
    let s = setup().await;
    let key = &s.env.admin_key;
    let reply = s
        .env
        .call(
            "POST",
            BASE,
            key,
            Some(body(
                &s,
                "to-api",
                json!({"scope": "project", "projectId": "acme/api", "shouldMaskSecrets": true}),
            )),
        )
        .await;
    let id = reply.json()["secretSync"]["id"].as_str().unwrap().to_owned();
    s.env.sim().requests().reset();
    let plan = s.env.get(&format!("{BASE}/{id}/plan"), Some(key)).await.json();
    assert_eq!(
        plan["plan"],
        json!([
            {"key": "DB_URL", "action": "create", "reason": "not at GitLab yet"},
            {"key": "TOKEN", "action": "create", "reason": "not at GitLab yet"},
        ])
    );
    assert_eq!(
        s.env.sim().requests().writes("/variables"),
        0,
        "a plan is a dry run"
    );

    let started = s
        .env
        .call("POST", &format!("{BASE}/{id}/sync-secrets"), key, None)
        .await
        .json();
    assert_eq!(started["secretSync"]["syncStatus"], "pending");
    let job = started["secretSync"]["lastSyncJobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = s.env.get(&format!("/api/v1/jobs/{job}"), Some(key)).await.json();
    assert_eq!(shown["job"]["kind"], "secret-sync.run");
    let results = s.env.get(&format!("{BASE}/{id}/results"), Some(key)).await.json();
    assert_eq!(results["results"], json!([]));
    let imported = s
        .env
        .call(
            "POST",
            &format!("{BASE}/{id}/import-secrets?importBehavior=prioritize-source"),
            key,
            None,
        )
        .await
        .json();
    assert_eq!(imported["secretSync"]["importStatus"], "pending");
    let removing = s
        .env
        .call("POST", &format!("{BASE}/{id}/remove-secrets"), key, None)
        .await
        .json();
    assert_eq!(removing["secretSync"]["removeStatus"], "pending");
    let deleted = s
        .env
        .call("DELETE", &format!("{BASE}/{id}?removeSecrets=false"), key, None)
        .await;
    assert_eq!(deleted.status, 200);
    s.env
        .get(&format!("{BASE}/{id}"), Some(key))
        .await
        .error(404, "NotFound");
}
