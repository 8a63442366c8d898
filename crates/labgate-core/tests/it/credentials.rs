//! The credential broker: reads are counted in memory and written by the usage flush, and no
//! cache ever hands out what a committed change replaced — in this process at once, in another
//! process on the same PostgreSQL database within `CHANGE_NOTICE_BOUND`.

use std::sync::Arc;
use std::time::Duration;

use labgate_core::auth::Principal;
use labgate_core::clock::Clock;
use labgate_core::connections::CHANGE_NOTICE_BOUND;
use labgate_core::vault::Vault;
use labgate_core::{CoreError, Services};
use labgate_proto::connections::{AccessTokenCredentials, UpdateConnectionRequest};
use labgate_proto::credentials::CredentialQuery;
use labgate_testkit::{TestBackend, TestEnv, wait_until};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::connections::{ALICE, ALICE_READ, request, with_alice};

const CREDENTIAL_READ: &str = "app-connection.credential-read";

/// The token the broker answers with, read as its HTTP answer is written (from the cache entry's
/// stored answer once there is one), which must say what the serialised grant and the owned
/// response say.
async fn token(services: &Services, principal: &Principal, id: &str) -> String {
    let query = CredentialQuery {
        connection_id: Some(id.to_owned()),
        ..CredentialQuery::default()
    };
    let grant = services
        .connections
        .credential_for(principal, &query)
        .await
        .unwrap();
    let mut written = Vec::new();
    grant.write_json(&mut written).unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(answer, serde_json::to_value(&grant).unwrap());
    let owned = grant.into_response();
    assert_eq!(answer, serde_json::to_value(&owned).unwrap());
    assert_eq!(answer["credential"], owned.credential.expose_secret());
    owned.credential.expose_secret().to_owned()
}

/// Reads the credential until a read is answered from the cache (on PostgreSQL the cache answers
/// once its first beacon has come back); returns how many reads that took.
async fn until_cached(services: &Services, principal: &Principal, id: &str) -> u64 {
    let mut reads = 0;
    wait_until(Duration::from_secs(5), "the credential cache answers", || {
        reads += 1;
        async move {
            let before = services.connections.credential_cache_stats().hits;
            services.connections.credential(principal, id).await.unwrap();
            services.connections.credential_cache_stats().hits > before
        }
    })
    .await;
    reads
}

/// Occurrences of credential reads in the audit log, as stored.
async fn audited_reads(env: &TestEnv) -> (u64, usize) {
    let entries: Vec<_> = env
        .store
        .recent_audit(env.tenant.id.as_str(), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == CREDENTIAL_READ)
        .collect();
    let total = entries
        .iter()
        .map(|entry| u64::try_from(entry.occurrences).unwrap())
        .sum();
    (total, entries.len())
}

fn new_credentials(token: &str) -> UpdateConnectionRequest {
    UpdateConnectionRequest {
        credentials: Some(AccessTokenCredentials {
            access_token: token.to_owned(),
            instance_url: None,
            access_token_type: "personal".to_owned(),
        }),
        ..UpdateConnectionRequest::default()
    }
}

#[tokio::test]
async fn reads_are_written_by_the_flush_each_counted_once() {
    let (env, conn) = with_alice().await;
    let services = &env.services;
    let mut reads = until_cached(services, &env.admin, &conn.id).await;
    for _ in 0..25 {
        assert_eq!(token(services, &env.admin, &conn.id).await, ALICE);
        reads += 1;
    }
    // Reading wrote nothing yet.
    assert_eq!(audited_reads(&env).await, (0, 0));
    let stored = env
        .store
        .connection(env.tenant.id.as_str(), &conn.id)
        .await
        .unwrap();
    assert_eq!(stored.last_used_at, None);

    services.flush_usage().await.unwrap();
    assert_eq!(audited_reads(&env).await, (reads, 1), "one fold for the minute");
    let now = env.clock.now_ms();
    let stored = env
        .store
        .connection(env.tenant.id.as_str(), &conn.id)
        .await
        .unwrap();
    assert_eq!(stored.last_used_at, Some(now));
    let view = services.connections.get(&env.admin, &conn.id).await.unwrap();
    assert!(view.last_used_at.is_some());

    services.flush_usage().await.unwrap();
    assert_eq!(
        audited_reads(&env).await,
        (reads, 1),
        "a flush writes each count once"
    );

    // A minute later: a new fold, and the last use moves on.
    for _ in 0..3 {
        token(services, &env.admin, &conn.id).await;
    }
    env.clock.advance_ms(61_000);
    for _ in 0..2 {
        token(services, &env.admin, &conn.id).await;
    }
    services.flush_usage().await.unwrap();
    assert_eq!(audited_reads(&env).await, (reads + 5, 2));
    let stored = env
        .store
        .connection(env.tenant.id.as_str(), &conn.id)
        .await
        .unwrap();
    assert_eq!(stored.last_used_at, Some(env.clock.now_ms()));

    // Refused reads hand out nothing, so they count nothing.
    let other = services.connections.credential(&env.other_admin, &conn.id).await;
    assert!(matches!(other, Err(CoreError::NotFound(_))), "{other:?}");
    services.flush_usage().await.unwrap();
    assert_eq!(audited_reads(&env).await, (reads + 5, 2));
}

#[tokio::test]
async fn a_changed_connection_is_never_served_from_the_cache() {
    let (env, conn) = with_alice().await;
    let services = &env.services;
    let conns = &services.connections;

    // A rotation: GitLab revoked the old token at once.
    until_cached(services, &env.admin, &conn.id).await;
    conns.rotate(&env.admin, &conn.id).await.unwrap();
    let rotated = token(services, &env.admin, &conn.id).await;
    assert_ne!(rotated, ALICE);
    assert!(env.sim().state().token(ALICE).unwrap().revoked);
    assert!(!env.sim().state().token(&rotated).unwrap().revoked);

    // New credentials.
    until_cached(services, &env.admin, &conn.id).await;
    conns
        .update(&env.admin, &conn.id, new_credentials(ALICE_READ))
        .await
        .unwrap();
    assert_eq!(token(services, &env.admin, &conn.id).await, ALICE_READ);

    // Revoked at GitLab and found so by a check: nothing to hand out.
    until_cached(services, &env.admin, &conn.id).await;
    env.sim().state().revoke_token(ALICE_READ);
    conns.check(&env.admin, &conn.id).await.unwrap();
    let refused = conns.credential(&env.admin, &conn.id).await;
    assert!(matches!(refused, Err(CoreError::Conflict(_))), "{refused:?}");

    // Deleted.
    let url = env.sim().url().to_owned();
    let other = conns
        .create(&env.admin, request("d", &url, &rotated, "personal"))
        .await
        .unwrap();
    until_cached(services, &env.admin, &other.id).await;
    conns.delete(&env.admin, &other.id, false).await.unwrap();
    let gone = conns.credential(&env.admin, &other.id).await;
    assert!(matches!(gone, Err(CoreError::NotFound(_))), "{gone:?}");
}

#[tokio::test]
async fn another_replica_hears_of_a_change_within_the_bound() {
    let (env, conn) = with_alice().await;
    if env.database.backend() != TestBackend::Postgres {
        // One process per SQLite database: its own changes are all there are (the test above).
        return;
    }
    // A second process on the same database: its own pool, vault and cache.
    let store = crate::connect(&env.database).await;
    let vault = Vault::load(store.clone(), env.key_settings.clone())
        .await
        .unwrap();
    let replica = Services::new(store, Arc::new(vault), env.clock.clone());
    let stop = CancellationToken::new();
    let watcher = replica.watch_connection_changes(stop.clone());
    let admin = replica.api_keys.authenticate(&env.admin_key, None).await.unwrap();

    until_cached(&replica, &admin, &conn.id).await;
    env.services
        .connections
        .update(&env.admin, &conn.id, new_credentials(ALICE_READ))
        .await
        .unwrap();
    wait_until(
        CHANGE_NOTICE_BOUND,
        "the other replica hands out the new token",
        || async { token(&replica, &admin, &conn.id).await == ALICE_READ },
    )
    .await;

    until_cached(&replica, &admin, &conn.id).await;
    env.services
        .connections
        .delete(&env.admin, &conn.id, false)
        .await
        .unwrap();
    wait_until(
        CHANGE_NOTICE_BOUND,
        "the other replica knows the connection is gone",
        || async {
            matches!(
                replica.connections.credential(&admin, &conn.id).await,
                Err(CoreError::NotFound(_))
            )
        },
    )
    .await;
    stop.cancel();
    watcher.await.unwrap();
    replica.close().await;
}
