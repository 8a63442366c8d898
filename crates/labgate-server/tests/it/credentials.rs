//! The credential broker over HTTP: who may read a token, what comes with it, what is audited.

use std::time::Duration;

use gitlab_sim::{Mode, Seed};
use labgate_proto::api_keys::Role;
use labgate_testkit::{TestEnv, captured_logs, wait_until};
use serde_json::json;

const ALICE: &str = "glpat-aliceALICEalice1234";
const ALICE_NEW: &str = "glpat-aliceNEWTOKENalice12";
const BASE: &str = "/api/v1/app-connections/gitlab";

async fn env_with_connection() -> (TestEnv, String) {
    let seed = Seed::builder()
        .mode(Mode::SelfManaged)
        .user("alice")
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("alice", "ci-2", &["api"], ALICE_NEW)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({
                "name": "ci",
                "method": "access-token",
                "credentials": {"accessToken": ALICE, "instanceUrl": env.sim().url(), "accessTokenType": "personal"},
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    (env, id)
}

fn path(id: &str) -> String {
    format!("/api/v1/credentials/gitlab?connectionId={id}")
}

#[tokio::test]
async fn admins_and_credential_readers_get_the_token_with_how_long_to_use_it() {
    let (env, id) = env_with_connection().await;
    let reader = env.key("acme", Role::CredentialReader).await;
    for key in [&env.admin_key, &reader] {
        let reply = env.get(&path(&id), Some(key)).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.headers["cache-control"], "no-store");
        let body = reply.json();
        assert_eq!(body["credential"], ALICE);
        assert_eq!(body["tokenType"], "personal");
        assert_eq!(body["connectionId"], id.as_str());
        assert_eq!(body["instanceUrl"], env.sim().url());
        assert_eq!(body["scopes"], json!(["api"]));
        let use_until = labgate_core::timefmt::parse_time(body["useUntil"].as_str().unwrap()).unwrap();
        let now = labgate_core::clock::Clock::now(env.clock.as_ref());
        assert!(
            use_until > now && use_until <= now + time::Duration::minutes(15),
            "{body}"
        );
    }
    // Reads are audited, folded per key, connection and minute.
    let audit = env
        .get(
            "/api/v1/audit-logs?action=app-connection.credential-read",
            Some(&env.admin_key),
        )
        .await
        .json();
    let entries = audit["auditLogs"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    env.get(&path(&id), Some(&reader)).await;
    let audit = env
        .get(
            "/api/v1/audit-logs?action=app-connection.credential-read",
            Some(&env.admin_key),
        )
        .await
        .json();
    let counts: Vec<u64> = audit["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["occurrences"].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 3, "{audit}");
    assert_eq!(
        counts.len(),
        2,
        "the reader's second read folds into its entry: {audit}"
    );
    assert!(
        !captured_logs().contains(ALICE),
        "the token never reaches the logs"
    );
}

#[tokio::test]
async fn other_roles_and_tenants_get_nothing() {
    let (env, id) = env_with_connection().await;
    for role in [Role::Member, Role::Reader] {
        let key = env.key("acme", role).await;
        env.get(&path(&id), Some(&key)).await.error(403, "Forbidden");
    }
    env.get(&path(&id), Some(&env.other_admin_key))
        .await
        .error(404, "NotFound");
    env.get(&path(&id), None).await.error(401, "Unauthorized");
}

#[tokio::test]
async fn a_connection_without_a_working_token_hands_out_nothing() {
    let (env, id) = env_with_connection().await;
    env.sim().state().revoke_token(ALICE);
    let checked = env
        .call("POST", &format!("{BASE}/{id}/check"), &env.admin_key, None)
        .await
        .json();
    assert_eq!(checked["appConnection"]["status"], "revoked");
    let refused = env
        .get(&path(&id), Some(&env.admin_key))
        .await
        .error(409, "Conflict");
    assert!(
        refused["message"].as_str().unwrap().contains("revoked"),
        "{refused}"
    );
    assert!(!String::from_utf8_lossy(&env.get(&path(&id), Some(&env.admin_key)).await.body).contains(ALICE));
}

#[tokio::test]
async fn new_credentials_are_handed_out_from_the_next_read_on() {
    let (env, id) = env_with_connection().await;
    let reader = env.key("acme", Role::CredentialReader).await;
    // Until a read is answered from memory (on PostgreSQL once the first beacon came back).
    wait_until(Duration::from_secs(5), "the credential cache answers", || async {
        let before = env.services.connections.credential_cache_stats().hits;
        assert_eq!(
            env.get(&path(&id), Some(&reader)).await.json()["credential"],
            ALICE
        );
        env.services.connections.credential_cache_stats().hits > before
    })
    .await;
    let updated = env
        .call(
            "PATCH",
            &format!("{BASE}/{id}"),
            &env.admin_key,
            Some(json!({"credentials": {"accessToken": ALICE_NEW, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", String::from_utf8_lossy(&updated.body));
    assert_eq!(
        env.get(&path(&id), Some(&reader)).await.json()["credential"],
        ALICE_NEW
    );
}

#[tokio::test]
async fn a_connection_shows_when_it_last_handed_out_its_credential() {
    let (env, id) = env_with_connection().await;
    let shown = |reply: labgate_testkit::Reply| reply.json()["appConnection"]["lastUsedAt"].clone();
    let connection = format!("{BASE}/{id}");
    assert_eq!(
        shown(env.get(&connection, Some(&env.admin_key)).await),
        json!(null)
    );
    env.get(&path(&id), Some(&env.admin_key)).await;
    env.services.flush_usage().await.unwrap();
    let now = labgate_core::clock::Clock::now(env.clock.as_ref());
    assert_eq!(
        shown(env.get(&connection, Some(&env.admin_key)).await),
        json!(labgate_core::timefmt::format_time(now))
    );
}
