//! `/api/v1/access`: sources checked against GitLab when created, queued syncs (one at a time),
//! a finished sync's record and log, roles, other tenants, and the 4xx answers.

use gitlab_sim::Seed;
use labgate_core::access::SyncJobEnd;
use labgate_proto::api_keys::Role;
use labgate_testkit::TestEnv;
use serde_json::{Value, json};

const SOURCES: &str = "/api/v1/access/sources";
const ALICE: &str = "glpat-aliceALICEalice1234";
const ROOT: &str = "glpat-rootROOTroot12345678";

async fn connection(env: &TestEnv, name: &str, token: &str) -> String {
    let url = env.sim().url().to_owned();
    let reply = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({"name": name, "method": "access-token",
                "credentials": {"accessToken": token, "instanceUrl": url, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()["appConnection"]["id"].as_str().unwrap().to_owned()
}

async fn setup() -> (TestEnv, String) {
    let seed = Seed::builder()
        .admin("root")
        .user("alice")
        .user("bob")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("elsewhere", "Elsewhere")
        .project("acme/platform/api", "API")
        .member("acme", "alice", 40)
        .member("acme/platform/api", "bob", 30)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("root", "admin", &["api"], ROOT)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let alice = connection(&env, "alice", ALICE).await;
    (env, alice)
}

fn group_source(name: &str, connection: &str, path: &str) -> Value {
    json!({"name": name, "connectionId": connection, "scope": {"kind": "group", "fullPath": path}})
}

/// Claims the queued sync job and runs it as a worker would.
async fn run_sync(env: &TestEnv) -> SyncJobEnd {
    let job = env
        .services
        .jobs
        .claim("test", time::Duration::minutes(5))
        .await
        .unwrap()
        .expect("a sync job is queued");
    env.services.access.run_job(&job, "test").await
}

#[tokio::test]
async fn a_source_is_created_synced_and_its_sync_followed() {
    let (env, alice) = setup().await;
    let key = &env.admin_key;
    let reply = env
        .call("POST", SOURCES, key, Some(group_source("acme", &alice, "acme")))
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let source = reply.json()["source"].clone();
    assert_eq!(source["name"], "acme");
    assert_eq!(source["connectionId"], alice.as_str());
    assert_eq!(source["scope"], json!({"kind": "group", "fullPath": "acme"}));
    assert_eq!(source["status"], "never-synced");
    assert_eq!(source["lastSyncId"], Value::Null);
    // Without a site URL GitLab has nowhere to deliver hooks: the source says so.
    assert_eq!(source["updates"]["kind"], "sweeps", "{source}");
    assert!(
        source["updates"]["reason"]
            .as_str()
            .unwrap()
            .contains("LABGATE_SITE_URL"),
        "{source}"
    );
    for field in ["createdAt", "updatedAt"] {
        assert!(source[field].is_string(), "{field}: {source}");
    }
    let id = source["id"].as_str().unwrap().to_owned();

    let listed = env.get(SOURCES, Some(key)).await.json();
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(listed["sources"][0]["id"], id.as_str());
    assert_eq!(
        env.get(&format!("{SOURCES}/{id}"), Some(key)).await.json()["source"],
        source
    );

    let reply = env.call("POST", &format!("{SOURCES}/{id}/sync"), key, None).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let sync = reply.json()["sync"].clone();
    assert_eq!(sync["status"], "queued");
    assert_eq!(sync["kind"], "full");
    assert_eq!(
        sync["progress"],
        json!({"phase": "queued", "done": 0, "total": null})
    );
    let sync_id = sync["id"].as_str().unwrap().to_owned();
    // One sync at a time.
    env.call("POST", &format!("{SOURCES}/{id}/sync"), key, None)
        .await
        .error(409, "Conflict");

    assert!(
        matches!(run_sync(&env).await, SyncJobEnd::Done { .. }),
        "the sync succeeds"
    );
    let sync = env
        .get(&format!("/api/v1/access/syncs/{sync_id}"), Some(key))
        .await
        .json()["sync"]
        .clone();
    assert_eq!(sync["status"], "succeeded", "{sync}");
    assert_eq!(sync["sourceId"], id.as_str());
    assert_eq!(sync["progress"]["phase"], "done");
    // acme's detail, one page of descendants, platform's detail, one page of projects, and the
    // members of acme, platform and api: accounts come from the member listings.
    assert_eq!(sync["requestCount"], 1 + 1 + 1 + 1 + 3);
    assert!(sync.get("error").is_none(), "{sync}");
    for field in ["createdAt", "startedAt", "finishedAt"] {
        assert!(sync[field].is_string(), "{field}: {sync}");
    }
    let syncs = env.get(&format!("{SOURCES}/{id}/syncs"), Some(key)).await.json();
    assert_eq!(syncs["syncs"].as_array().unwrap().len(), 1);
    assert_eq!(syncs["syncs"][0]["id"], sync_id.as_str());
    let log = env
        .get(&format!("/api/v1/access/syncs/{sync_id}/log"), Some(key))
        .await
        .json();
    let lines = log["lines"].as_array().unwrap();
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["level"], "info");
    assert!(
        lines
            .iter()
            .any(|line| line["message"].as_str().unwrap().starts_with("full sync done")),
        "{log}"
    );
    let source = env.get(&format!("{SOURCES}/{id}"), Some(key)).await.json()["source"].clone();
    assert_eq!(source["status"], "connected");
    assert_eq!(source["lastSyncId"], sync_id.as_str());

    // Readers read; only writers create, sync and delete.
    let reader = env.key("acme", Role::Reader).await;
    assert_eq!(env.get(SOURCES, Some(&reader)).await.status, 200);
    assert_eq!(
        env.get(&format!("/api/v1/access/syncs/{sync_id}/log"), Some(&reader))
            .await
            .status,
        200
    );
    env.call("POST", &format!("{SOURCES}/{id}/sync"), &reader, None)
        .await
        .error(403, "Forbidden");
    env.call("DELETE", &format!("{SOURCES}/{id}"), &reader, None)
        .await
        .error(403, "Forbidden");

    let deleted = env.call("DELETE", &format!("{SOURCES}/{id}"), key, None).await;
    assert_eq!(deleted.status, 200);
    env.get(&format!("{SOURCES}/{id}"), Some(key))
        .await
        .error(404, "NotFound");
    env.get(&format!("/api/v1/access/syncs/{sync_id}"), Some(key))
        .await
        .error(404, "NotFound");
    let entries = env
        .get("/api/v1/audit-logs?resourceKind=access-source", Some(key))
        .await
        .json();
    let actions: Vec<&str> = entries["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    for action in [
        "access-source.create",
        "access-source.sync",
        "access-source.delete",
    ] {
        assert!(actions.contains(&action), "{action}: {entries}");
    }
}

#[tokio::test]
async fn scopes_gitlab_refuses_are_400s_naming_the_field() {
    let (env, alice) = setup().await;
    let key = &env.admin_key;
    let field_of = |body: &Value| {
        body["details"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let cases = [
        (
            group_source("acme", &alice, "nowhere"),
            "scope.fullPath",
            "cannot reach",
        ),
        (
            group_source("acme", &alice, "acme/platform"),
            "scope.fullPath",
            "top-level",
        ),
        (
            json!({"name": "acme", "connectionId": alice, "scope": {"kind": "group"}}),
            "scope.fullPath",
            "top-level",
        ),
        (
            json!({"name": "acme", "connectionId": alice, "scope": {"kind": "instance"}}),
            "scope.kind",
            "administrator",
        ),
        (group_source("Not A Name", &alice, "acme"), "name", "lowercase"),
        (
            group_source("acme", "01939fd4-58a4-7a3c-9d1e-8f2b6c4a9e10", "acme"),
            "connectionId",
            "no GitLab connection",
        ),
    ];
    for (body, field, message) in cases {
        let reply = env.call("POST", SOURCES, key, Some(body.clone())).await;
        let error = reply.error(400, "BadRequest");
        assert_eq!(field_of(&error), field, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {error}"
        );
    }
    // Shapes the API does not know.
    for body in [
        json!({"name": "acme", "connectionId": alice, "scope": {"kind": "planet"}}),
        json!({"name": "acme", "connectionId": alice, "scope": {"kind": "group", "fullPath": "acme", "x": 1}}),
        json!({"name": "acme", "connectionId": alice}),
        json!({"name": "acme", "connectionId": alice, "scope": {"kind": "instance"}, "extra": true}),
    ] {
        env.call("POST", SOURCES, key, Some(body.clone()))
            .await
            .error(400, "BadRequest");
    }
    assert_eq!(
        env.get(SOURCES, Some(key)).await.json()["totalCount"],
        0,
        "nothing refused was stored"
    );

    // An administrator's connection may cover the instance; names are unique per tenant.
    let root = connection(&env, "root", ROOT).await;
    let reply = env
        .call(
            "POST",
            SOURCES,
            key,
            Some(json!({"name": "everything", "connectionId": root, "scope": {"kind": "instance"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["source"]["scope"], json!({"kind": "instance"}));
    env.call(
        "POST",
        SOURCES,
        key,
        Some(group_source("everything", &alice, "acme")),
    )
    .await
    .error(409, "Conflict");
}

#[tokio::test]
async fn unknown_and_other_tenants_sources_and_syncs_are_not_found() {
    let (env, alice) = setup().await;
    let key = &env.admin_key;
    let id = env
        .call("POST", SOURCES, key, Some(group_source("acme", &alice, "acme")))
        .await
        .json()["source"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sync = env
        .call("POST", &format!("{SOURCES}/{id}/sync"), key, None)
        .await
        .json()["sync"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = env.key("other", Role::Admin).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for path in [
        format!("{SOURCES}/{id}"),
        format!("{SOURCES}/{id}/syncs"),
        format!("/api/v1/access/syncs/{sync}"),
        format!("/api/v1/access/syncs/{sync}/log"),
    ] {
        env.get(&path, Some(&theirs)).await.error(404, "NotFound");
        env.get(&path.replace(&id, &unknown).replace(&sync, &unknown), Some(key))
            .await
            .error(404, "NotFound");
        env.get(
            &path.replace(&id, "not-an-id").replace(&sync, "not-an-id"),
            Some(key),
        )
        .await
        .error(404, "NotFound");
    }
    env.call("POST", &format!("{SOURCES}/{id}/sync"), &theirs, None)
        .await
        .error(404, "NotFound");
    env.call("DELETE", &format!("{SOURCES}/{id}"), &theirs, None)
        .await
        .error(404, "NotFound");
    assert_eq!(env.get(SOURCES, Some(&theirs)).await.json()["totalCount"], 0);
}
