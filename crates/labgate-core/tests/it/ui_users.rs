//! UI users and their sessions: creation rules, login, expiry, logout, deletion, the brake on
//! guessing, and the audit trail naming the user.

use labgate_core::CoreError;
use labgate_core::auth::{Actor, DEFAULT_SESSION_LIFETIME, LOGIN_FAILURE_LIMIT, LoginError, NewUserRequest};
use labgate_proto::api_keys::Role;
use labgate_proto::audit::{ActorKind, AuditAction, AuditLogQuery};
use secrecy::{ExposeSecret, SecretString};

use labgate_core::clock::Clock;

use crate::env;

const PASSWORD: &str = "correct horse battery";

fn request<'a>(email: &'a str, password: Option<&str>) -> NewUserRequest<'a> {
    NewUserRequest {
        email,
        role: Role::Member,
        password: password.map(SecretString::from),
    }
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

#[tokio::test]
async fn users_are_unique_by_email_across_tenants_and_passwords_are_checked() {
    let env = env().await;
    let users = &env.services.users;
    let created = users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request(" Ann@Example.com ", Some(PASSWORD)),
        )
        .await
        .unwrap();
    assert_eq!(created.user.email, "ann@example.com");
    assert!(created.generated_password.is_none());

    let duplicate = users
        .create(
            &env.other_tenant.id,
            &Actor::Cli,
            None,
            request("ANN@example.COM", Some(PASSWORD)),
        )
        .await
        .unwrap_err();
    assert!(matches!(duplicate, CoreError::AlreadyExists(_)), "{duplicate:?}");
    let short = users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request("bob@example.com", Some("too-short")),
        )
        .await
        .unwrap_err();
    assert!(short.to_string().contains("at least 12"), "{short}");
    assert!(!short.to_string().contains("too-short"));
    let bad_email = users
        .create(&env.tenant.id, &Actor::Cli, None, request("bob", Some(PASSWORD)))
        .await
        .unwrap_err();
    assert!(matches!(
        bad_email,
        CoreError::Validation {
            field: Some("email"),
            ..
        }
    ));

    let generated = users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request("carol@example.com", None),
        )
        .await
        .unwrap();
    let password = generated.generated_password.clone().unwrap();
    assert!(password.expose_secret().len() >= 24);
    assert!(!format!("{generated:?}").contains(password.expose_secret()));
    let sessions = &env.services.ui_sessions;
    assert!(sessions.login("carol@example.com", password, None).await.is_ok());

    let listed = users.list(&env.tenant.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["ann@example.com", "carol@example.com"]
    );
    assert!(listed[1].last_login_at.is_some());
    assert!(users.list(&env.other_tenant.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_login_opens_a_session_until_it_expires_or_ends() {
    let env = env().await;
    env.services
        .users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request("ann@example.com", Some(PASSWORD)),
        )
        .await
        .unwrap();
    let sessions = &env.services.ui_sessions;
    let ip = Some("192.0.2.7".parse().unwrap());
    let wrong = sessions
        .login("ann@example.com", secret("not the password"), ip)
        .await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)), "{wrong:?}");
    let unknown = sessions.login("nobody@example.com", secret(PASSWORD), ip).await;
    assert!(matches!(unknown, Err(LoginError::InvalidCredentials)));

    let logged_in = sessions
        .login("ANN@example.com", secret(PASSWORD), ip)
        .await
        .unwrap();
    let token = logged_in.token.expose_secret().to_owned();
    assert!(token.len() >= 43);
    assert!(!format!("{logged_in:?}").contains(&token));
    let session = &logged_in.session;
    assert_eq!(session.email, "ann@example.com");
    assert_eq!(session.tenant_name, env.tenant.name);
    assert_eq!(session.principal.tenant_id, env.tenant.id);
    assert_eq!(session.principal.role, Role::Member);
    assert_eq!(
        session.principal.actor,
        Actor::User {
            id: session.user_id.to_string()
        }
    );
    assert_eq!(session.expires_at, env.clock.now() + DEFAULT_SESSION_LIFETIME);

    let found = sessions.session(&token, None).await.unwrap().unwrap();
    assert_eq!(found.user_id, session.user_id);
    assert!(sessions.session("not-a-session", None).await.unwrap().is_none());
    assert!(
        sessions
            .session(&"x".repeat(10_000), None)
            .await
            .unwrap()
            .is_none()
    );

    // The login is audited with the user as the actor.
    let entries = env
        .services
        .audit
        .list(
            &env.admin,
            &AuditLogQuery {
                action: Some(AuditAction::UserLogin),
                ..AuditLogQuery::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(entries.audit_logs.len(), 1);
    let entry = &entries.audit_logs[0];
    assert_eq!(entry.actor.kind, ActorKind::User);
    assert_eq!(entry.actor.id.as_deref(), Some(session.user_id.as_str()));
    assert_eq!(entry.source_ip.as_deref(), Some("192.0.2.7"));

    env.clock
        .advance(DEFAULT_SESSION_LIFETIME - time::Duration::SECOND);
    assert!(sessions.session(&token, None).await.unwrap().is_some());
    env.clock.advance(time::Duration::SECOND);
    assert!(sessions.session(&token, None).await.unwrap().is_none(), "expired");

    let again = sessions
        .login("ann@example.com", secret(PASSWORD), None)
        .await
        .unwrap();
    let token = again.token.expose_secret().to_owned();
    sessions.logout(&token).await.unwrap();
    assert!(
        sessions.session(&token, None).await.unwrap().is_none(),
        "logged out"
    );
    sessions.logout(&token).await.unwrap();
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions() {
    let env = env().await;
    let users = &env.services.users;
    users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request("ann@example.com", Some(PASSWORD)),
        )
        .await
        .unwrap();
    let sessions = &env.services.ui_sessions;
    let one = sessions
        .login("ann@example.com", secret(PASSWORD), None)
        .await
        .unwrap();
    let two = sessions
        .login("ann@example.com", secret(PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(sessions.end_all(&one.session.user_id).await.unwrap(), 2);
    assert!(
        sessions
            .session(one.token.expose_secret(), None)
            .await
            .unwrap()
            .is_none()
    );

    let three = sessions
        .login("ann@example.com", secret(PASSWORD), None)
        .await
        .unwrap();
    let deleted = users.delete("Ann@example.com", &Actor::Cli, None).await.unwrap();
    assert_eq!(deleted.email, "ann@example.com");
    assert!(
        sessions
            .session(three.token.expose_secret(), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sessions
            .session(two.token.expose_secret(), None)
            .await
            .unwrap()
            .is_none()
    );
    let again = users
        .delete("ann@example.com", &Actor::Cli, None)
        .await
        .unwrap_err();
    assert!(matches!(again, CoreError::NotFound("user")));
    let failed = sessions.login("ann@example.com", secret(PASSWORD), None).await;
    assert!(matches!(failed, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn repeated_failures_are_refused_before_the_password_is_checked() {
    let env = env().await;
    env.services
        .users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            request("ann@example.com", Some(PASSWORD)),
        )
        .await
        .unwrap();
    let sessions = &env.services.ui_sessions;
    let guesser = Some("198.51.100.9".parse().unwrap());
    for _ in 0..LOGIN_FAILURE_LIMIT {
        let result = sessions
            .login("ann@example.com", secret("a wrong guess!"), guesser)
            .await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    }
    // Even the right password waits now: the guesser must not learn it is right.
    match sessions.login("ann@example.com", secret(PASSWORD), guesser).await {
        Err(LoginError::TooManyAttempts { retry_after_secs }) => {
            assert!((1..=900).contains(&retry_after_secs), "{retry_after_secs}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let elsewhere = sessions
        .login(
            "ann@example.com",
            secret(PASSWORD),
            Some("203.0.113.1".parse().unwrap()),
        )
        .await;
    assert!(
        matches!(elsewhere, Err(LoginError::TooManyAttempts { .. })),
        "the email is braked too"
    );
    env.clock.advance(time::Duration::minutes(15));
    assert!(
        sessions
            .login("ann@example.com", secret(PASSWORD), guesser)
            .await
            .is_ok()
    );
}
