//! OAuth connections among the other connection operations: health checks, rotation, updates
//! and `credentialsHash`, against gitlab-sim with the standard OAuth application.

use labgate_core::CoreError;
use labgate_proto::connections::{
    AccessTokenCredentials, ConnectionEventKind, ConnectionStatus, UpdateConnectionRequest,
};
use labgate_testkit::TestEnv;
use labgate_testkit::sim::{ALICE_TOKEN, standard_seed};
use secrecy::ExposeSecret;

async fn oauth_env() -> TestEnv {
    TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await
}

async fn token(env: &TestEnv, id: &str) -> String {
    env.services
        .connections
        .credential(&env.admin, id)
        .await
        .unwrap()
        .credential
        .expose_secret()
        .to_owned()
}

/// Makes GitLab forget every OAuth grant (the user revoked the application, say).
fn revoke_every_grant(env: &TestEnv) {
    env.sim().state().write(|db| {
        for token in db.oauth_tokens.values_mut() {
            token.revoked_at = Some(time::OffsetDateTime::now_utc());
        }
    });
}

#[tokio::test]
async fn health_checks_keep_an_oauth_connection_active_and_refresh_it_when_due() {
    let env = oauth_env().await;
    let connection = env.connect_oauth("gitlab", "alice", None).await;
    let connections = &env.services.connections;
    // The access token lives two hours: no reason to call the connection expiring.
    let checked = connections.check(&env.admin, &connection.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::Active, "{checked:?}");
    assert_eq!(checked.status_reason, None);
    assert_eq!(checked.expires_at, connection.expires_at, "nothing was refreshed");
    let before = token(&env, &connection.id).await;

    // Close to its end, a check refreshes it first.
    env.clock.advance(time::Duration::minutes(118));
    let checked = connections.check(&env.admin, &connection.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::Active, "{checked:?}");
    assert_ne!(checked.expires_at, connection.expires_at, "refreshed");
    assert_ne!(token(&env, &connection.id).await, before);
    let events = connections
        .events(&env.admin, &connection.id, 0, 50)
        .await
        .unwrap();
    assert!(
        events
            .events
            .iter()
            .all(|event| event.kind != ConnectionEventKind::StatusChanged),
        "{events:?}"
    );

    // GitLab forgot the grant: the token is refused, and the user must reconnect.
    revoke_every_grant(&env);
    let checked = connections.check(&env.admin, &connection.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::NeedsReauth, "{checked:?}");
    assert!(checked.status_reason.unwrap().contains("reconnect"));
}

#[tokio::test]
async fn a_health_check_finds_a_dropped_grant_through_its_refresh() {
    let env = oauth_env().await;
    let connection = env.connect_oauth("gitlab", "alice", None).await;
    revoke_every_grant(&env);
    env.clock.advance(time::Duration::minutes(119));
    let checked = env
        .services
        .connections
        .check(&env.admin, &connection.id)
        .await
        .unwrap();
    assert_eq!(checked.status, ConnectionStatus::NeedsReauth, "{checked:?}");
    assert!(
        checked.status_reason.unwrap().contains("invalid_grant"),
        "the refresh found it"
    );
}

#[tokio::test]
async fn oauth_connections_are_neither_rotated_nor_given_access_tokens() {
    let env = oauth_env().await;
    let connection = env.connect_oauth("gitlab", "alice", None).await;
    let connections = &env.services.connections;
    let before = token(&env, &connection.id).await;
    assert!(matches!(
        connections.rotate(&env.admin, &connection.id).await,
        Err(CoreError::Conflict(_))
    ));
    let refused = [
        UpdateConnectionRequest {
            credentials: Some(AccessTokenCredentials {
                access_token: ALICE_TOKEN.to_owned(),
                instance_url: Some(env.sim().url().to_owned()),
                access_token_type: "personal".to_owned(),
            }),
            ..UpdateConnectionRequest::default()
        },
        UpdateConnectionRequest {
            rotate_before_days: Some(3),
            ..UpdateConnectionRequest::default()
        },
        UpdateConnectionRequest {
            usages: Some(vec!["secret-sync".to_owned()]),
            ..UpdateConnectionRequest::default()
        },
    ];
    for request in refused {
        let error = connections
            .update(&env.admin, &connection.id, request.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(error, CoreError::Validation { .. }),
            "{request:?}: {error:?}"
        );
    }
    let renamed = connections
        .update(
            &env.admin,
            &connection.id,
            UpdateConnectionRequest {
                name: Some("renamed".to_owned()),
                ..UpdateConnectionRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(
        token(&env, &connection.id).await,
        before,
        "the grant is untouched"
    );
}

#[tokio::test]
async fn the_credentials_hash_of_an_oauth_connection_names_its_grants_identity() {
    let env = oauth_env().await;
    let connections = &env.services.connections;
    let alice = env.connect_oauth("gitlab", "alice", None).await;
    let refreshed = connections.refresh(&env.admin, &alice.id).await.unwrap();
    assert_eq!(
        refreshed.credentials_hash, alice.credentials_hash,
        "a refresh keeps it"
    );
    let reconnected = env.connect_oauth("gitlab", "alice", None).await;
    assert_eq!(reconnected.id, alice.id);
    assert_eq!(
        reconnected.credentials_hash, alice.credentials_hash,
        "a reconnect keeps it"
    );
    let again = env.connect_oauth("gitlab-2", "alice", None).await;
    assert_eq!(
        again.credentials_hash, alice.credentials_hash,
        "the same GitLab user"
    );
    let bob = env.connect_oauth("bob", "bob", None).await;
    assert_ne!(bob.credentials_hash, alice.credentials_hash);
    let access = token(&env, &alice.id).await;
    assert!(!alice.credentials_hash.contains(&access));
}
