use labgate_core::CoreError;
use labgate_core::auth::{Access, Actor, AuthFailure, AuthenticateError, KeyRequest};
use labgate_proto::api_keys::Role;
use secrecy::{ExposeSecret, SecretString};

use crate::env;

fn denied(result: Result<labgate_core::auth::Principal, AuthenticateError>) -> AuthFailure {
    match result {
        Err(AuthenticateError::Denied(failure)) => failure,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_authenticate_until_revoked_or_expired() {
    let env = env().await;
    let keys = &env.services.api_keys;
    let acme = env.tenant.clone();
    let created = keys
        .create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "ci",
                role: Role::Member,
                expires_at: None,
                token: None,
            },
        )
        .await
        .unwrap();
    let token = created.token.expose_secret().to_owned();
    assert!(token.starts_with("lgk_"));
    assert!(!format!("{created:?}").contains(&token));

    let principal = keys
        .authenticate(&token, Some([10, 0, 0, 1].into()))
        .await
        .unwrap();
    assert_eq!(
        (principal.tenant_id.as_str(), principal.role),
        (acme.id.as_str(), Role::Member)
    );
    assert!(principal.require(Access::Write).is_ok());
    assert!(matches!(
        principal.require(Access::Admin),
        Err(CoreError::Forbidden(_))
    ));

    assert_eq!(
        denied(keys.authenticate("lgk_unknown", None).await),
        AuthFailure::Unknown
    );

    // Revocation through this process applies at once, even though the key is cached.
    keys.revoke_in(&acme.id, &Actor::Cli, None, &created.view.id)
        .await
        .unwrap();
    assert_eq!(
        denied(keys.authenticate(&token, None).await),
        AuthFailure::Revoked
    );

    let expiring = keys
        .create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "short",
                role: Role::Reader,
                expires_at: Some("2027-06-01T00:00:00Z"),
                token: None,
            },
        )
        .await
        .unwrap();
    let token = expiring.token.expose_secret().to_owned();
    assert!(keys.authenticate(&token, None).await.is_ok());
    env.clock.set_ms(
        labgate_core::timefmt::parse_time("2027-06-01T00:00:00Z")
            .unwrap()
            .unix_timestamp()
            * 1_000,
    );
    assert_eq!(
        denied(keys.authenticate(&token, None).await),
        AuthFailure::Expired
    );
}

#[tokio::test]
async fn a_revocation_elsewhere_takes_effect_within_a_second() {
    let env = env().await;
    let acme = env.tenant.clone();
    let created = env
        .services
        .api_keys
        .create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "ci",
                role: Role::Admin,
                expires_at: None,
                token: None,
            },
        )
        .await
        .unwrap();
    let token = created.token.expose_secret().to_owned();
    env.services.api_keys.authenticate(&token, None).await.unwrap();
    // A second process (another replica, or the CLI) shares the database but not the cache.
    let elsewhere =
        labgate_core::Services::new(env.store.clone(), env.services.vault.clone(), env.clock.clone());
    elsewhere
        .api_keys
        .revoke_in(&acme.id, &Actor::Cli, None, &created.view.id)
        .await
        .unwrap();
    // This process trusts its cached answer for less than a second...
    env.clock.advance_ms(800);
    assert!(env.services.api_keys.authenticate(&token, None).await.is_ok());
    // ...and then asks the database again.
    env.clock
        .advance(labgate_core::auth::CACHE_TTL - time::Duration::milliseconds(800));
    assert_eq!(
        denied(env.services.api_keys.authenticate(&token, None).await),
        AuthFailure::Revoked
    );
}

#[tokio::test]
async fn bad_key_input_is_refused_with_reasons() {
    let env = env().await;
    let keys = &env.services.api_keys;
    let acme = env.tenant.clone();
    for (name, expires, field) in [
        ("", None, "name"),
        ("x\u{7}", None, "name"),
        ("ok", Some("yesterday"), "expiresAt"),
        ("ok", Some("2020-01-01T00:00:00Z"), "expiresAt"),
    ] {
        match keys
            .create(
                &acme.id,
                &Actor::Cli,
                None,
                KeyRequest {
                    name,
                    role: Role::Reader,
                    expires_at: expires,
                    token: None,
                },
            )
            .await
        {
            Err(CoreError::Validation { field: Some(got), .. }) => assert_eq!(got, field),
            other => panic!("{name:?}/{expires:?}: {other:?}"),
        }
    }
    let short = SecretString::from("too-short".to_owned());
    assert!(matches!(
        keys.create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "boot",
                role: Role::Admin,
                expires_at: None,
                token: Some(short)
            }
        )
        .await,
        Err(CoreError::Validation { .. })
    ));
    let supplied = SecretString::from("a-bootstrap-key-of-at-least-32-characters".to_owned());
    keys.create(
        &acme.id,
        &Actor::Cli,
        None,
        KeyRequest {
            name: "boot",
            role: Role::Admin,
            expires_at: None,
            token: Some(supplied.clone()),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        keys.create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "boot2",
                role: Role::Admin,
                expires_at: None,
                token: Some(supplied)
            }
        )
        .await,
        Err(CoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn tenants_see_only_their_own_keys() {
    let env = env().await;
    let keys = &env.services.api_keys;
    let acme = env.tenant.clone();
    let other = env.other_tenant.clone();
    let admin = keys
        .create(
            &acme.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "a",
                role: Role::Admin,
                expires_at: None,
                token: None,
            },
        )
        .await
        .unwrap();
    let foreign = keys
        .create(
            &other.id,
            &Actor::Cli,
            None,
            KeyRequest {
                name: "b",
                role: Role::Admin,
                expires_at: None,
                token: None,
            },
        )
        .await
        .unwrap();
    let principal = keys
        .authenticate(admin.token.expose_secret(), None)
        .await
        .unwrap();
    let listed = keys.list(&principal, 0, 50).await.unwrap();
    // This key and the environment's own admin key of the tenant; none of the other tenant's.
    assert_eq!(listed.total_count, 2);
    assert!(listed.api_keys.iter().all(|key| key.id != foreign.view.id));
    assert!(matches!(
        keys.get(&principal, &foreign.view.id).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        keys.revoke(&principal, &foreign.view.id).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(
        keys.authenticate(foreign.token.expose_secret(), None)
            .await
            .is_ok()
    );
    let audit = env.store.recent_audit(&acme.id, 10).await.unwrap();
    assert!(audit.iter().any(|entry| entry.action == "api-key.create"));
}
