//! OAuth connections against gitlab-sim: the authorization flow, refresh on demand and by force,
//! GitLab's refusals, and the journal and lease that keep a rotated refresh token from being
//! lost (a lost answer, a crash after the journal write, replicas reading at once).
//!
//! GitLab's access tokens live two hours; time moves on both clocks together (labgate's manual
//! clock and the simulator's), so both sides agree on when a token expires.

use std::collections::BTreeSet;
use std::time::Duration;

use gitlab_sim::FaultRule;
use labgate_core::CoreError;
use labgate_core::Services;
use labgate_core::auth::Principal;
use labgate_core::clock::Clock;
use labgate_core::connections::oauth::{Callback, FlowErrorCode, FlowOutcome};
use labgate_gitlab::oauth::{OAuthApp, OAuthClient};
use labgate_gitlab::{Credential, GitLabBaseUrl, GitLabClient, GitLabError, InstanceSettings, User};
use labgate_proto::audit::{AuditAction, AuditLogQuery};
use labgate_proto::connections::{
    ConnectionEventKind, ConnectionMethod, ConnectionStatus, CreateConnectionRequest, CreateCredentials,
    StartOAuthRequest,
};
use labgate_proto::credentials::CredentialQuery;
use labgate_proto::webhooks::CreateWebhookRequest;
use labgate_store::ConnectionRecord;
use labgate_testkit::sim::{
    APP_SECRET, APP_UID, REDIRECT, fast_client_options, loopback_policy, standard_seed,
};
use labgate_testkit::{TestEnv, captured_logs, wait_until};
use secrecy::{ExposeSecret, SecretString};

/// GitLab's access-token lifetime, in seconds.
const LIFETIME: i64 = 7_200;
/// How far to move both clocks so that a fresh token has four minutes left: inside the
/// five-minute window where a read refreshes it.
const TO_REFRESH_WINDOW: i64 = LIFETIME - 240;
const TOKEN_ROUTE: &str = "/oauth/token";

async fn oauth_env() -> TestEnv {
    TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await
}

fn start_request(name: &str) -> StartOAuthRequest {
    StartOAuthRequest {
        name: name.to_owned(),
        scopes: vec!["api".to_owned()],
        ..StartOAuthRequest::default()
    }
}

/// Moves labgate's clock and GitLab's by the same amount.
fn advance(env: &TestEnv, seconds: i64) {
    env.clock.advance_ms(seconds * 1_000);
    env.sim()
        .clock()
        .advance(Duration::from_secs(u64::try_from(seconds).unwrap()));
}

async fn row(env: &TestEnv, id: &str) -> ConnectionRecord {
    env.store.connection(&env.admin.tenant_id, id).await.unwrap()
}

/// The connection's token as the broker hands it out.
async fn token(services: &Services, principal: &Principal, id: &str) -> String {
    services
        .connections
        .credential(principal, id)
        .await
        .unwrap()
        .credential
        .expose_secret()
        .to_owned()
}

/// `GET /api/v4/user` at the simulator with an OAuth access token.
async fn whoami(env: &TestEnv, access_token: &str) -> Result<User, GitLabError> {
    gitlab(env)
        .current_user(&Credential::OAuth(SecretString::from(access_token)))
        .await
}

fn gitlab(env: &TestEnv) -> GitLabClient {
    GitLabClient::with_options(
        InstanceSettings::new(GitLabBaseUrl::parse(env.sim().url()).unwrap()),
        &loopback_policy(),
        fast_client_options(),
    )
    .unwrap()
}

/// Revokes a grant at GitLab (`POST /oauth/revoke`), as a user removing the application does.
async fn revoke_at_gitlab(env: &TestEnv, access_token: &str) {
    OAuthClient::new(
        gitlab(env),
        OAuthApp {
            client_id: APP_UID.to_owned(),
            client_secret: Some(SecretString::from(APP_SECRET)),
            redirect_uri: url::Url::parse(REDIRECT).unwrap(),
        },
    )
    .revoke(&SecretString::from(access_token), false)
    .await
    .unwrap();
}

/// Requests that reached the simulator's token endpoint with `status` (code exchanges included;
/// take differences); 0 is an answer dropped by a fault.
fn token_calls(env: &TestEnv, status: u16) -> u64 {
    env.sim().requests().count("POST", TOKEN_ROUTE, status)
}

async fn subscribe(env: &TestEnv) -> String {
    env.services
        .webhooks
        .create(
            &env.admin,
            CreateWebhookRequest {
                url: "https://hooks.example/in".to_owned(),
                description: None,
                events: None,
                enabled: None,
                secret: None,
            },
        )
        .await
        .unwrap()
        .0
        .id
        .to_string()
}

async fn deliveries(env: &TestEnv, hook: &str) -> Vec<String> {
    let (rows, _) = env
        .store
        .list_deliveries(&env.admin.tenant_id, hook, 0, 100)
        .await
        .unwrap();
    rows.into_iter().map(|d| d.event_type).collect()
}

async fn event_kinds(env: &TestEnv, id: &str) -> Vec<ConnectionEventKind> {
    env.services
        .connections
        .events(&env.admin, id, 0, 100)
        .await
        .unwrap()
        .events
        .into_iter()
        .rev()
        .map(|event| event.kind)
        .collect()
}

async fn audited(env: &TestEnv, action: AuditAction) -> u64 {
    env.services
        .audit
        .list(
            &env.admin,
            &AuditLogQuery {
                action: Some(action),
                ..AuditLogQuery::default()
            },
            100,
        )
        .await
        .unwrap()
        .total_count
}

/// The grants GitLab issued to `username` (one per code exchange or refresh), revoked or not.
fn grants_of(env: &TestEnv, username: &str) -> Vec<bool> {
    let user = env.sim().state().user_id(username).unwrap();
    env.sim().state().read(|db| {
        db.oauth_tokens
            .values()
            .filter(|t| t.user_id == user)
            .map(|t| t.revoked_at.is_some())
            .collect()
    })
}

fn assert_not_logged(secrets: &[&str]) {
    let logs = captured_logs();
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

fn field_of(error: CoreError) -> (&'static str, String) {
    match error {
        CoreError::Validation { field, message } => (field.unwrap(), message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// --- The flow ---------------------------------------------------------------------------------

#[tokio::test]
async fn starting_a_flow_refuses_bad_input_with_clear_errors() {
    let env = oauth_env().await;
    let conns = &env.services.connections;

    let mut unknown_scope = start_request("c");
    unknown_scope.scopes = vec!["api".to_owned(), "everything".to_owned()];
    let (field, message) = field_of(
        conns
            .start_oauth(&env.admin, unknown_scope, false)
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "scopes");
    assert!(message.contains("\"everything\""), "{message}");

    let mut no_scope = start_request("c");
    no_scope.scopes.clear();
    assert_eq!(
        field_of(conns.start_oauth(&env.admin, no_scope, false).await.unwrap_err()).0,
        "scopes"
    );

    let mut half_labels = start_request("c");
    half_labels.tenant_id = Some("t1".to_owned());
    let (field, message) = field_of(
        conns
            .start_oauth(&env.admin, half_labels, false)
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "userId");
    assert!(message.contains("tenantId"), "{message}");
    let mut other_half = start_request("c");
    other_half.user_id = Some("u1".to_owned());
    assert_eq!(
        field_of(
            conns
                .start_oauth(&env.admin, other_half, false)
                .await
                .unwrap_err()
        )
        .0,
        "tenantId"
    );

    for bad in [
        "/relative",
        "http://app.example.com/done",
        "https://user:pw@app.example.com/",
        "javascript:alert(1)",
    ] {
        let mut request = start_request("c");
        request.return_to = Some(bad.to_owned());
        let (field, message) = field_of(conns.start_oauth(&env.admin, request, false).await.unwrap_err());
        assert_eq!(field, "returnTo", "{bad}");
        assert!(message.starts_with("returnTo "), "{message}");
    }

    let no_site = env.services.clone().with_site_url(None);
    match no_site
        .connections
        .start_oauth(&env.admin, start_request("c"), false)
        .await
    {
        Err(CoreError::Conflict(message)) => assert!(message.contains("LABGATE_SITE_URL"), "{message}"),
        other => panic!("expected a conflict naming the setting, got {other:?}"),
    }

    // None of these sent anyone to GitLab: a good request still starts, and its URL is GitLab's.
    let started = conns
        .start_oauth(&env.admin, start_request("c"), false)
        .await
        .unwrap();
    assert!(
        started
            .authorize_url
            .starts_with(&format!("{}/oauth/authorize?", env.sim().url()))
    );
    assert!(started.authorize_url.contains("code_challenge_method=S256"));
}

#[tokio::test]
async fn the_callback_creates_an_oauth_connection_with_the_gitlab_identity() {
    let env = oauth_env().await;
    let conns = &env.services.connections;
    let mut request = start_request("alice-gitlab");
    request.scopes = vec!["api".to_owned(), "read_user".to_owned()];
    request.tenant_id = Some("t1".to_owned());
    request.user_id = Some("u1".to_owned());
    request.return_to = Some("https://app.example.com/connected".to_owned());
    let started = conns.start_oauth(&env.admin, request, false).await.unwrap();
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let (state, code) = (
        callback.state.clone().unwrap(),
        callback.code.as_ref().unwrap().expose_secret().to_owned(),
    );
    let received_ms = env.clock.now_ms();
    let outcome = conns.finish_oauth(callback, None).await;
    assert_eq!(
        outcome.return_to.as_ref().map(url::Url::as_str),
        Some("https://app.example.com/connected")
    );
    let view = outcome.result.unwrap();
    assert_eq!(view.method, ConnectionMethod::OAuth);
    assert_eq!(view.status, ConnectionStatus::Active);
    assert_eq!(view.gitlab_user.username.as_deref(), Some("alice"));
    assert_eq!(view.gitlab_user.id, env.sim().state().user_id("alice"));
    assert_eq!(view.gitlab_user.bot, Some(false));
    assert_eq!(view.scopes, ["api", "read_user"]);
    assert_eq!(view.credentials.instance_url, env.sim().url());
    assert_eq!(
        (view.tenant_id.as_deref(), view.user_id.as_deref()),
        (Some("t1"), Some("u1"))
    );
    let stored = row(&env, &view.id).await;
    assert_eq!(stored.method, "oauth");
    assert_eq!(
        stored.expires_at,
        Some(received_ms + LIFETIME * 1_000),
        "expiry is labgate's clock at receipt plus expires_in"
    );
    assert_eq!(stored.token_issued_at, Some(received_ms));
    assert_eq!(stored.refresh_generation, 0);
    assert_eq!(event_kinds(&env, &view.id).await, [ConnectionEventKind::Created]);

    // The token it holds is alice's at GitLab, and the embedder finds it by its labels.
    let access = token(&env.services, &env.admin, &view.id).await;
    assert_eq!(whoami(&env, &access).await.unwrap().username, "alice");
    let by_labels = conns
        .credential_for(
            &env.admin,
            &CredentialQuery {
                tenant_id: Some("t1".to_owned()),
                user_id: Some("u1".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_response();
    assert_eq!(by_labels.credential.expose_secret(), access);
    assert_eq!(by_labels.connection_id, view.id);
    // It belongs to tenant acme alone.
    assert!(matches!(
        conns.credential(&env.other_admin, &view.id).await,
        Err(CoreError::NotFound(_))
    ));
    assert_not_logged(&[&access, &state, &code, APP_SECRET]);
}

#[tokio::test]
async fn every_failed_callback_has_its_code_and_uses_up_its_state() {
    let env = oauth_env().await;
    let conns = &env.services.connections;
    let admin = &env.admin;
    let begin = |bind: bool| async move {
        conns
            .start_oauth(admin, start_request("flow"), bind)
            .await
            .unwrap()
    };
    let failed = |outcome: FlowOutcome| outcome.result.unwrap_err().code;
    let replay = |callback: &Callback| Callback {
        state: callback.state.clone(),
        code: callback.code.clone(),
        error: callback.error.clone(),
        error_description: callback.error_description.clone(),
    };

    // Used once, then never again.
    let started = begin(false).await;
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let again = replay(&callback);
    let created = conns.finish_oauth(callback, None).await.result.unwrap();
    assert_eq!(
        failed(conns.finish_oauth(again, None).await),
        FlowErrorCode::InvalidState
    );
    conns.delete(admin, &created.id, false).await.unwrap();

    // Unknown, and missing.
    let unknown = Callback {
        state: Some("never-issued".to_owned()),
        code: Some(SecretString::from("code")),
        ..Callback::default()
    };
    assert_eq!(
        failed(conns.finish_oauth(unknown, None).await),
        FlowErrorCode::InvalidState
    );
    assert_eq!(
        failed(conns.finish_oauth(Callback::default(), None).await),
        FlowErrorCode::InvalidState
    );

    // Expired: eleven minutes on labgate's clock.
    let started = begin(false).await;
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let again = replay(&callback);
    env.clock.advance_ms(11 * 60_000);
    assert_eq!(
        failed(conns.finish_oauth(callback, None).await),
        FlowErrorCode::ExpiredState
    );
    assert_eq!(
        failed(conns.finish_oauth(again, None).await),
        FlowErrorCode::InvalidState
    );

    // Begun in another browser: no cookie; then a wrong one, and the right one, come too late.
    let started = begin(true).await;
    let binding = started
        .browser_binding
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let (again, third) = (replay(&callback), replay(&callback));
    assert_eq!(
        failed(conns.finish_oauth(callback, None).await),
        FlowErrorCode::BrowserMismatch
    );
    assert_eq!(
        failed(conns.finish_oauth(again, Some("another-browser")).await),
        FlowErrorCode::InvalidState
    );
    assert_eq!(
        failed(conns.finish_oauth(third, Some(&binding)).await),
        FlowErrorCode::InvalidState
    );

    // Declined at GitLab.
    let started = begin(false).await;
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", false);
    assert_eq!(callback.error.as_deref(), Some("access_denied"));
    let again = replay(&callback);
    assert_eq!(
        failed(conns.finish_oauth(callback, None).await),
        FlowErrorCode::AccessDenied
    );
    assert_eq!(
        failed(conns.finish_oauth(again, None).await),
        FlowErrorCode::InvalidState
    );

    // GitLab ends the authorization with another error (a scope the application lacks).
    let mut request = start_request("flow");
    request.scopes = vec!["read_repository".to_owned()];
    let started = conns.start_oauth(admin, request, false).await.unwrap();
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let again = replay(&callback);
    let refused = conns.finish_oauth(callback, None).await.result.unwrap_err();
    assert_eq!(refused.code, FlowErrorCode::AuthorizationFailed);
    assert!(refused.message.contains("invalid_scope"), "{}", refused.message);
    assert_eq!(
        failed(conns.finish_oauth(again, None).await),
        FlowErrorCode::InvalidState
    );

    // A browser-bound flow with its cookie still works, and no failure left a connection.
    let started = begin(true).await;
    let binding = started
        .browser_binding
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let callback = env.authorize_at_gitlab(&started.authorize_url, "alice", true);
    let view = conns.finish_oauth(callback, Some(&binding)).await.result.unwrap();
    assert_eq!(
        conns.list(admin, None, None, 0, None).await.unwrap().total_count,
        1,
        "{view:?}"
    );
    // The expired, mismatched, declined and refused flows are audited; states unknown or used
    // up belong to no tenant.
    assert_eq!(audited(&env, AuditAction::ConnectionOAuthFailed).await, 4);
    assert_not_logged(&[&binding]);
}

#[tokio::test]
async fn reconnecting_as_the_same_gitlab_user_keeps_the_connection() {
    let env = oauth_env().await;
    let first = env.connect_oauth("alice-gitlab", "alice", None).await;
    let old_token = token(&env.services, &env.admin, &first.id).await;
    let before = row(&env, &first.id).await;
    env.clock.advance_ms(60_000);

    let again = env.connect_oauth("alice-gitlab", "alice", None).await;
    assert_eq!(again.id, first.id);
    let after = row(&env, &first.id).await;
    assert_eq!(after.refresh_generation, before.refresh_generation + 1);
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.expires_at, Some(env.clock.now_ms() + LIFETIME * 1_000));
    assert_eq!(
        after.credentials_hash, before.credentials_hash,
        "same user, same application"
    );
    let new_token = token(&env.services, &env.admin, &first.id).await;
    assert_ne!(new_token, old_token);
    assert_eq!(whoami(&env, &new_token).await.unwrap().username, "alice");
    assert!(
        whoami(&env, &old_token).await.is_err(),
        "the replaced grant was revoked at GitLab"
    );
    assert_eq!(
        event_kinds(&env, &first.id).await,
        [
            ConnectionEventKind::Created,
            ConnectionEventKind::CredentialsUpdated
        ]
    );
    assert_eq!(
        env.services
            .connections
            .list(&env.admin, None, None, 0, None)
            .await
            .unwrap()
            .total_count,
        1
    );
}

#[tokio::test]
async fn reconnecting_as_another_gitlab_user_is_refused_and_its_grant_revoked() {
    let env = oauth_env().await;
    let alice = env.connect_oauth("shared", "alice", None).await;
    let alice_token = token(&env.services, &env.admin, &alice.id).await;
    let before = row(&env, &alice.id).await;

    let started = env
        .services
        .connections
        .start_oauth(&env.admin, start_request("shared"), false)
        .await
        .unwrap();
    let callback = env.authorize_at_gitlab(&started.authorize_url, "bob", true);
    let error = env
        .services
        .connections
        .finish_oauth(callback, None)
        .await
        .result
        .unwrap_err();
    assert_eq!(error.code, FlowErrorCode::IdentityMismatch);
    assert!(error.message.contains("@alice"), "{}", error.message);

    // Bob's grant was revoked at GitLab at once; alice's connection is untouched and works.
    assert_eq!(grants_of(&env, "bob"), [true], "bob's one grant, revoked");
    assert_eq!(row(&env, &alice.id).await, before);
    assert_eq!(token(&env.services, &env.admin, &alice.id).await, alice_token);
    assert_eq!(whoami(&env, &alice_token).await.unwrap().username, "alice");
}

#[tokio::test]
async fn two_flows_for_one_new_name_create_one_connection_and_revoke_the_other_grant() {
    let env = oauth_env().await;
    let conns = &env.services.connections;
    let first = conns
        .start_oauth(&env.admin, start_request("dup"), false)
        .await
        .unwrap();
    let second = conns
        .start_oauth(&env.admin, start_request("dup"), false)
        .await
        .unwrap();
    let first = env.authorize_at_gitlab(&first.authorize_url, "alice", true);
    let second = env.authorize_at_gitlab(&second.authorize_url, "bob", true);
    let created = conns.finish_oauth(first, None).await.result.unwrap();
    let error = conns.finish_oauth(second, None).await.result.unwrap_err();
    assert_eq!(error.code, FlowErrorCode::ConnectionFailed);
    assert_eq!(grants_of(&env, "bob"), [true]);
    assert_eq!(created.gitlab_user.username.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_code_handed_over_creates_an_oauth_connection() {
    let env = oauth_env().await;
    let conns = &env.services.connections;
    // The embedding application ran the authorization itself, with labgate's client id and
    // redirect URI, and hands the code over (Infisical's method "oauth").
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", APP_UID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("state", "the-embedders-own")
        .append_pair("scope", "api read_user")
        .finish();
    let location = gitlab_sim::oauth::authorize(env.sim().state(), &query, "alice", true).unwrap();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    let request = |name: &str| CreateConnectionRequest {
        name: name.to_owned(),
        description: None,
        method: "oauth".to_owned(),
        credentials: Some(CreateCredentials {
            code: Some(format!(" {code} ")),
            ..CreateCredentials::default()
        }),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: None,
        rotate_before_days: None,
    };
    let view = conns.create(&env.admin, request("handed-over")).await.unwrap();
    assert_eq!(view.method, ConnectionMethod::OAuth);
    assert_eq!(view.gitlab_user.username.as_deref(), Some("alice"));
    assert_eq!(view.scopes, ["api", "read_user"]);
    let access = token(&env.services, &env.admin, &view.id).await;
    assert_eq!(whoami(&env, &access).await.unwrap().username, "alice");
    // A code is single use.
    let (field, message) = field_of(conns.create(&env.admin, request("again")).await.unwrap_err());
    assert_eq!(field, "code");
    assert!(message.contains("invalid_grant"), "{message}");
    assert_not_logged(&[&code, &access]);
}

#[tokio::test]
async fn deleting_with_revocation_revokes_the_grant_at_gitlab() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let access = token(&env.services, &env.admin, &conn.id).await;
    env.services
        .connections
        .delete(&env.admin, &conn.id, true)
        .await
        .unwrap();
    assert!(matches!(
        whoami(&env, &access).await,
        Err(GitLabError::Unauthorized { .. })
    ));
    assert_eq!(env.sim().requests().count("POST", "/oauth/revoke", 200), 1);
    assert_eq!(grants_of(&env, "alice"), [true]);
    assert!(matches!(
        env.services.connections.get(&env.admin, &conn.id).await,
        Err(CoreError::NotFound(_))
    ));
}

// --- Refresh ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_read_refreshes_a_token_with_less_than_five_minutes_left() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let exchanges = token_calls(&env, 200);
    let first = token(&env.services, &env.admin, &conn.id).await;

    // Fresh, and still with more than five minutes left: never refreshed.
    advance(&env, LIFETIME - 360);
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, first);
    assert_eq!(token_calls(&env, 200), exchanges);

    advance(&env, 120);
    let before = row(&env, &conn.id).await;
    let refreshed_at = env.clock.now_ms();
    let credential = env
        .services
        .connections
        .credential(&env.admin, &conn.id)
        .await
        .unwrap();
    let second = credential.credential.expose_secret().to_owned();
    assert_ne!(second, first);
    assert_eq!(token_calls(&env, 200), exchanges + 1);
    let after = row(&env, &conn.id).await;
    assert_eq!(after.refresh_generation, before.refresh_generation + 1);
    assert_eq!(after.expires_at, Some(refreshed_at + LIFETIME * 1_000));
    assert_eq!(after.status, "active");
    assert_eq!(
        after.credentials_hash, before.credentials_hash,
        "the hash names the grant's identity, not a token"
    );
    assert!(credential.use_until.is_some());

    // GitLab killed the old token with the refresh; the new one works.
    assert!(matches!(
        whoami(&env, &first).await,
        Err(GitLabError::Unauthorized { .. })
    ));
    assert_eq!(whoami(&env, &second).await.unwrap().username, "alice");
    // And the new one is handed out as is until its own window.
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, second);
    assert_eq!(token_calls(&env, 200), exchanges + 1);
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    assert_eq!(event_kinds(&env, &conn.id).await, [ConnectionEventKind::Created]);
    assert_not_logged(&[&first, &second]);
}

#[tokio::test]
async fn a_forced_refresh_rotates_a_fresh_token() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let exchanges = token_calls(&env, 200);
    let first = token(&env.services, &env.admin, &conn.id).await;
    let refreshed = env
        .services
        .connections
        .refresh(&env.admin, &conn.id)
        .await
        .unwrap();
    assert_eq!(refreshed.status, ConnectionStatus::Active);
    assert_eq!(token_calls(&env, 200), exchanges + 1);
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 1);
    let second = token(&env.services, &env.admin, &conn.id).await;
    assert_ne!(second, first);
    assert!(whoami(&env, &first).await.is_err());
    assert_eq!(whoami(&env, &second).await.unwrap().username, "alice");
    assert_eq!(audited(&env, AuditAction::ConnectionRefresh).await, 1);
    assert_not_logged(&[&first, &second]);
}

#[tokio::test]
async fn the_proactive_sweep_refreshes_at_about_three_quarters_of_the_lifetime() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let first = token(&env.services, &env.admin, &conn.id).await;
    let due = row(&env, &conn.id).await.next_refresh_at.unwrap();
    let issued = env.clock.now_ms();
    assert!(
        (84 * 60_000..=96 * 60_000).contains(&(due - issued)),
        "{}",
        due - issued
    );
    advance(&env, 80 * 60);
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 0);
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, first);
    advance(&env, 17 * 60);
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 1);
    assert_eq!(
        env.services.connections.refresh_due().await.unwrap(),
        0,
        "done once"
    );
    let second = token(&env.services, &env.admin, &conn.id).await;
    assert_ne!(second, first);
    assert_eq!(whoami(&env, &second).await.unwrap().username, "alice");
    let next = row(&env, &conn.id).await.next_refresh_at.unwrap();
    assert!(next > env.clock.now_ms() + 80 * 60_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_in_one_process_share_one_refresh() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let exchanges = token_calls(&env, 200);
    advance(&env, TO_REFRESH_WINDOW);
    // GitLab takes its time answering, so every reader asks while the refresh is out.
    env.sim().faults().add(FaultRule {
        route: Some(TOKEN_ROUTE.to_owned()),
        answer_delay_ms: 300,
        ..FaultRule::default()
    });
    let readers = (0..8).map(|_| token(&env.services, &env.admin, &conn.id));
    let tokens: BTreeSet<String> = futures_util::future::join_all(readers)
        .await
        .into_iter()
        .collect();
    assert_eq!(tokens.len(), 1, "every reader got the same new token");
    assert_eq!(
        token_calls(&env, 200),
        exchanges + 1,
        "one refresh reached GitLab"
    );
    assert_eq!(env.sim().requests().total("POST", TOKEN_ROUTE), exchanges + 1);
    let token = tokens.into_iter().next().unwrap();
    assert_eq!(whoami(&env, &token).await.unwrap().username, "alice");
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 1);
}

// --- GitLab's refusals --------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_grant_needs_reauth_with_one_event_and_one_webhook() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let held = token(&env.services, &env.admin, &conn.id).await;
    revoke_at_gitlab(&env, &held).await;
    advance(&env, TO_REFRESH_WINDOW);
    let refused_before = token_calls(&env, 400);

    let error = env
        .services
        .connections
        .credential(&env.admin, &conn.id)
        .await
        .unwrap_err();
    match error {
        CoreError::Conflict(message) => assert!(message.contains("needs_reauth"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(token_calls(&env, 400), refused_before + 1);
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.status, "needs_reauth");
    assert!(stored.status_reason.as_deref().unwrap().contains("invalid_grant"));
    assert_eq!(stored.next_refresh_at, None);

    // Further reads and a forced refresh ask GitLab nothing more, and add nothing.
    assert!(
        env.services
            .connections
            .credential(&env.admin, &conn.id)
            .await
            .is_err()
    );
    assert!(matches!(
        env.services.connections.refresh(&env.admin, &conn.id).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 0);
    assert_eq!(token_calls(&env, 400), refused_before + 1);
    assert_eq!(
        event_kinds(&env, &conn.id).await,
        [ConnectionEventKind::Created, ConnectionEventKind::StatusChanged]
    );
    assert_eq!(deliveries(&env, &hook).await, ["connection.status_changed"]);
    assert_eq!(audited(&env, AuditAction::ConnectionNeedsReauth).await, 1);

    // Reconnecting by the same user brings it back.
    let back = env.connect_oauth("c", "alice", None).await;
    assert_eq!(
        (back.id.as_str(), back.status),
        (conn.id.as_str(), ConnectionStatus::Active)
    );
    assert_eq!(
        event_kinds(&env, &conn.id).await.last(),
        Some(&ConnectionEventKind::Recovered)
    );
    assert_not_logged(&[&held]);
}

#[tokio::test]
async fn a_renewed_application_secret_raises_the_instance_alert_and_keeps_the_status() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let held = token(&env.services, &env.admin, &conn.id).await;
    let new_secret = env.sim().state().renew_oauth_secret(APP_UID).unwrap();
    advance(&env, TO_REFRESH_WINDOW);

    // The held token still works for its last minutes, so the read hands it out.
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, held);
    assert_eq!(token_calls(&env, 401), 1, "one refresh, refused for the client");
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.status, "active");
    assert_eq!(stored.refresh_generation, 0);
    assert_eq!(event_kinds(&env, &conn.id).await, [ConnectionEventKind::Created]);
    assert_eq!(deliveries(&env, &hook).await, ["instance.oauth_refused"]);
    assert_eq!(audited(&env, AuditAction::GitLabInstanceOAuthRefused).await, 1);
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    assert_not_logged(&[&held, &new_secret]);
}

#[tokio::test]
async fn a_503_storm_backs_off_without_touching_the_status() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let held = token(&env.services, &env.admin, &conn.id).await;
    advance(&env, TO_REFRESH_WINDOW);
    env.sim().faults().add(FaultRule {
        route: Some(TOKEN_ROUTE.to_owned()),
        error_503: 1.0,
        ..FaultRule::default()
    });

    // The read hands out the held token, which works a few minutes more.
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, held);
    let storm = token_calls(&env, 503);
    assert!(storm >= 1);
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.status, "active");
    assert_eq!(stored.consecutive_failures, 1);
    let next = stored.next_refresh_at.unwrap();
    assert!(next > env.clock.now_ms(), "the next attempt waits");

    // Reads during the back-off do not hammer GitLab.
    for _ in 0..5 {
        assert_eq!(token(&env.services, &env.admin, &conn.id).await, held);
    }
    assert_eq!(token_calls(&env, 503), storm);

    // A second failed attempt after the back-off pushes the next one further out.
    env.clock.set_ms(next);
    assert_eq!(token(&env.services, &env.admin, &conn.id).await, held);
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.consecutive_failures, 2);
    assert!(stored.next_refresh_at.unwrap() - next > 30_000);
    assert_eq!(stored.status, "active");

    // GitLab is back: the next attempt refreshes, resets the failures and, as the status never
    // moved, writes no event.
    env.sim().faults().clear();
    env.clock.set_ms(stored.next_refresh_at.unwrap());
    let fresh = token(&env.services, &env.admin, &conn.id).await;
    assert_ne!(fresh, held);
    assert_eq!(whoami(&env, &fresh).await.unwrap().username, "alice");
    let stored = row(&env, &conn.id).await;
    assert_eq!(
        (stored.status.as_str(), stored.consecutive_failures),
        ("active", 0)
    );
    assert_eq!(event_kinds(&env, &conn.id).await, [ConnectionEventKind::Created]);
    assert!(deliveries(&env, &hook).await.is_empty());
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refresh_after_failures_writes_recovered_only_when_the_status_had_moved() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    // Health checks found GitLab unreachable three times running.
    env.sim().faults().add(FaultRule {
        error_503: 1.0,
        ..FaultRule::default()
    });
    for _ in 0..3 {
        env.services
            .connections
            .check(&env.admin, &conn.id)
            .await
            .unwrap();
    }
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.status, "unreachable");
    assert!(stored.consecutive_failures >= 3);
    env.sim().faults().clear();

    let refreshed = env
        .services
        .connections
        .refresh(&env.admin, &conn.id)
        .await
        .unwrap();
    assert_eq!(refreshed.status, ConnectionStatus::Active);
    assert_eq!(row(&env, &conn.id).await.consecutive_failures, 0);
    assert_eq!(
        event_kinds(&env, &conn.id).await,
        [
            ConnectionEventKind::Created,
            ConnectionEventKind::StatusChanged,
            ConnectionEventKind::Recovered
        ]
    );
    assert_eq!(
        deliveries(&env, &hook).await,
        ["connection.status_changed", "connection.status_changed"]
    );
    let access = token(&env.services, &env.admin, &conn.id).await;
    assert_eq!(whoami(&env, &access).await.unwrap().username, "alice");
    // Healthy from now on: a further check moves nothing.
    env.services
        .connections
        .check(&env.admin, &conn.id)
        .await
        .unwrap();
    assert_eq!(event_kinds(&env, &conn.id).await.len(), 3);
}

#[tokio::test]
async fn health_checks_keep_oauth_connections_active_and_refresh_idle_ones() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let conns = &env.services.connections;
    let before = row(&env, &conn.id).await;

    // A working token two hours from its end is no "expiring" connection.
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(
        (checked.status, checked.status_reason),
        (ConnectionStatus::Active, None)
    );
    let after = row(&env, &conn.id).await;
    assert_eq!(after.expires_at, before.expires_at, "labgate's own expiry stays");
    assert_eq!(after.refresh_generation, 0);

    // Idle past its access token's end: the check refreshes instead of declaring it expired,
    // and the sweep does the same.
    advance(&env, 3 * 3_600);
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(
        checked.status,
        ConnectionStatus::Active,
        "{:?}",
        checked.status_reason
    );
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 1);
    advance(&env, 3 * 3_600);
    assert_eq!(conns.check_all().await.unwrap(), 1);
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 2);
    let access = token(&env.services, &env.admin, &conn.id).await;
    assert_eq!(whoami(&env, &access).await.unwrap().username, "alice");
    assert_eq!(event_kinds(&env, &conn.id).await, [ConnectionEventKind::Created]);
    assert!(deliveries(&env, &hook).await.is_empty());

    // A check of a connection whose grant is gone ends it in needs_reauth: at once, and after
    // the refresh a check makes at the token's end.
    revoke_at_gitlab(&env, &access).await;
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::NeedsReauth);
    assert_eq!(deliveries(&env, &hook).await, ["connection.status_changed"]);
    let back = env.connect_oauth("c", "alice", None).await;
    assert_eq!(back.status, ConnectionStatus::Active);
    let access = token(&env.services, &env.admin, &conn.id).await;
    revoke_at_gitlab(&env, &access).await;
    advance(&env, 3 * 3_600);
    let refused = token_calls(&env, 400);
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::NeedsReauth);
    assert_eq!(
        token_calls(&env, 400),
        refused + 1,
        "the refresh found the grant gone"
    );
    assert_eq!(
        event_kinds(&env, &conn.id).await,
        [
            ConnectionEventKind::Created,
            ConnectionEventKind::StatusChanged,
            ConnectionEventKind::Recovered,
            ConnectionEventKind::StatusChanged
        ]
    );
}

// --- Reliability --------------------------------------------------------------------------------

#[tokio::test]
async fn a_lost_refresh_answer_ends_in_needs_reauth_after_one_re_ask() {
    let env = oauth_env().await;
    let hook = subscribe(&env).await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let requests_before = env.sim().requests().total("POST", TOKEN_ROUTE);
    advance(&env, TO_REFRESH_WINDOW);
    env.sim().faults().add(FaultRule {
        route: Some(TOKEN_ROUTE.to_owned()),
        lose_answer: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });

    assert!(
        env.services
            .connections
            .credential(&env.admin, &conn.id)
            .await
            .is_err()
    );
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.status, "needs_reauth");
    let reason = stored.status_reason.unwrap();
    assert!(reason.contains("answer to a token refresh was lost"), "{reason}");
    assert_eq!(token_calls(&env, 0), 1, "the lost one");
    assert_eq!(token_calls(&env, 400), 1, "the one re-ask, refused");
    assert_eq!(
        env.sim().requests().total("POST", TOKEN_ROUTE),
        requests_before + 2
    );

    // Later reads, a restart's recovery, sweeps and time passing never ask again.
    for _ in 0..3 {
        assert!(
            env.services
                .connections
                .credential(&env.admin, &conn.id)
                .await
                .is_err()
        );
    }
    env.services.connections.recover_journal().await.unwrap();
    advance(&env, LIFETIME);
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 0);
    env.services.connections.check_all().await.unwrap();
    let replica = env.replica().await;
    replica.connections.recover_journal().await.unwrap();
    assert!(
        replica
            .connections
            .credential(&env.admin, &conn.id)
            .await
            .is_err()
    );
    assert_eq!(
        env.sim().requests().total("POST", TOKEN_ROUTE),
        requests_before + 2
    );
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    assert_eq!(
        event_kinds(&env, &conn.id).await,
        [ConnectionEventKind::Created, ConnectionEventKind::StatusChanged]
    );
    assert_eq!(deliveries(&env, &hook).await, ["connection.status_changed"]);
}

#[tokio::test]
async fn a_connection_dropped_before_gitlab_acted_is_asked_again_and_lands() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let old = token(&env.services, &env.admin, &conn.id).await;
    let requests_before = env.sim().requests().total("POST", TOKEN_ROUTE);
    advance(&env, TO_REFRESH_WINDOW);
    env.sim().faults().add(FaultRule {
        route: Some(TOKEN_ROUTE.to_owned()),
        reset: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    // From labgate's side a reset looks like a lost answer; the re-ask tells them apart.
    let new = token(&env.services, &env.admin, &conn.id).await;
    assert_ne!(new, old);
    assert_eq!(whoami(&env, &new).await.unwrap().username, "alice");
    assert_eq!(
        env.sim().requests().total("POST", TOKEN_ROUTE),
        requests_before + 2
    );
    let stored = row(&env, &conn.id).await;
    assert_eq!((stored.status.as_str(), stored.refresh_generation), ("active", 1));
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refresh_as_slow_as_its_timeouts_allow_keeps_its_lease() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let exchanges = token_calls(&env, 200);
    advance(&env, TO_REFRESH_WINDOW);
    // A replica with the default 30-second timeout: its refresh may wait 30 s for an answer that
    // never comes, re-ask, and wait 30 s more before the journal write.
    let mut slow = env.services.clone();
    slow.connections = slow
        .connections
        .clone()
        .with_client_options(labgate_gitlab::ClientOptions {
            max_attempts: 1,
            request_timeout: Duration::from_secs(30),
            use_env_proxy: false,
            ..labgate_gitlab::ClientOptions::default()
        });
    let other = env.replica().await;
    env.sim().faults().add(FaultRule {
        route: Some(TOKEN_ROUTE.to_owned()),
        answer_delay_ms: 1_000,
        ..FaultRule::default()
    });
    let first = tokio::spawn({
        let (admin, id) = (env.admin.clone(), conn.id.clone());
        async move { token(&slow, &admin, &id).await }
    });
    wait_until(Duration::from_secs(10), "the refresh is out", || async {
        env.store
            .all_journal(10)
            .await
            .unwrap()
            .iter()
            .any(|entry| entry.state == "sent")
    })
    .await;
    // What such a refresh may take on the clock, while the other replica reads.
    env.clock.advance_ms(65_000);
    let second = token(&other, &env.admin, &conn.id).await;
    let first = first.await.unwrap();
    assert_eq!(first, second);
    assert_eq!(whoami(&env, &first).await.unwrap().username, "alice");
    assert_eq!(token_calls(&env, 200), exchanges + 1);
    assert_eq!(token_calls(&env, 400), 0, "no invalid_grant");
    assert_eq!(row(&env, &conn.id).await.status, "active");
}

#[tokio::test]
async fn a_crash_after_the_journal_write_is_recovered_by_the_restarted_process() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let old = token(&env.services, &env.admin, &conn.id).await;
    let crash = labgate_core::failpoints::fail("refresh.after-journal", &conn.id);
    assert!(
        env.services
            .connections
            .refresh(&env.admin, &conn.id)
            .await
            .is_err()
    );
    drop(crash);

    // GitLab rotated; its answer is journalled, sealed; the row still holds the old generation.
    assert!(whoami(&env, &old).await.is_err(), "GitLab replaced the old pair");
    let journal = env.store.all_journal(10).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(
        (journal[0].state.as_str(), journal[0].operation.as_str()),
        ("answered", "refresh")
    );
    assert_eq!(journal[0].connection_id, conn.id);
    assert!(!String::from_utf8_lossy(journal[0].sealed_answer.as_ref().unwrap()).contains(&old));
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 0);

    // The crashed process died holding the lease; the restarted one recovers the answer all
    // the same, under its own name.
    let lease_end = env.clock.now_ms() + 60_000;
    env.execute_sql(&format!(
        "UPDATE app_connections SET refresh_lease_owner = 'refresh-crashed', refresh_lease_expires_at = {lease_end} \
         WHERE id = '{}'",
        conn.id
    ))
    .await;
    let restarted = env.replica().await;
    restarted.connections.recover_journal().await.unwrap();
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.refresh_generation, 1);
    assert_eq!(stored.status, "active");

    let rotated = token(&restarted, &env.admin, &conn.id).await;
    assert_ne!(rotated, old);
    assert_eq!(whoami(&env, &rotated).await.unwrap().username, "alice");
    assert_eq!(
        env.sim().requests().total("POST", TOKEN_ROUTE),
        2,
        "the exchange and the one refresh"
    );
    // The rotated refresh token was kept too, and the apply freed the dead holder's lease: the
    // next refresh works at once.
    restarted.connections.refresh(&env.admin, &conn.id).await.unwrap();
    let next = token(&restarted, &env.admin, &conn.id).await;
    assert_eq!(whoami(&env, &next).await.unwrap().username, "alice");
    assert_not_logged(&[&old, &rotated, &next]);
}

#[tokio::test]
async fn a_failing_journal_write_is_retried_and_the_refresh_lands() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let old = token(&env.services, &env.admin, &conn.id).await;
    let _flaky = labgate_core::failpoints::fail_times("refresh.journal-write", &conn.id, 2);
    env.services
        .connections
        .refresh(&env.admin, &conn.id)
        .await
        .unwrap();
    let new = token(&env.services, &env.admin, &conn.id).await;
    assert_ne!(new, old);
    assert_eq!(whoami(&env, &new).await.unwrap().username, "alice");
    assert_eq!(row(&env, &conn.id).await.refresh_generation, 1);
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_reading_at_once_refresh_once_per_lifetime() {
    const READERS: usize = 50;
    const LIFETIMES: u64 = 10;
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let replicas = [env.services.clone(), env.replica().await];
    let exchanges = token_calls(&env, 200);
    let mut seen = Vec::new();
    for lifetime in 1..=LIFETIMES {
        advance(&env, TO_REFRESH_WINDOW);
        let readers = (0..READERS).map(|reader| {
            let services = replicas[reader % replicas.len()].clone();
            let admin = env.admin.clone();
            let id = conn.id.clone();
            tokio::spawn(async move { token(&services, &admin, &id).await })
        });
        let handed_out: BTreeSet<String> = futures_util::future::join_all(readers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        // Each token handed out in this lifetime works at GitLab right after.
        for handed in &handed_out {
            assert_eq!(
                whoami(&env, handed).await.unwrap().username,
                "alice",
                "lifetime {lifetime}: a reader got a token GitLab refuses"
            );
        }
        assert_eq!(
            handed_out.len(),
            1,
            "lifetime {lifetime}: one token for every reader"
        );
        assert_eq!(
            token_calls(&env, 200),
            exchanges + lifetime,
            "lifetime {lifetime}: one refresh"
        );
        seen.extend(handed_out);
    }
    assert_eq!(token_calls(&env, 400), 0, "no invalid_grant");
    assert_eq!(
        env.sim().requests().total("POST", TOKEN_ROUTE),
        exchanges + LIFETIMES
    );
    let stored = row(&env, &conn.id).await;
    assert_eq!(stored.refresh_generation, i64::try_from(LIFETIMES).unwrap());
    assert_eq!(stored.status, "active");
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    let secrets: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_not_logged(&secrets);
}

#[tokio::test]
async fn the_proactive_sweep_leaves_idle_connections_to_their_next_read() {
    let env = oauth_env().await;
    let conn = env.connect_oauth("c", "alice", None).await;
    let exchanged = token_calls(&env, 200);
    // Eight days without a read, past the default seven: the sweep sends nothing and takes the
    // connection off the schedule.
    advance(&env, 8 * 24 * 3_600);
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 0);
    assert_eq!(token_calls(&env, 200), exchanged);
    assert_eq!(row(&env, &conn.id).await.next_refresh_at, None);
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 0);
    // The next read refreshes the long-expired token, which puts it back on the schedule.
    let fresh = token(&env.services, &env.admin, &conn.id).await;
    assert_eq!(token_calls(&env, 200), exchanged + 1);
    assert!(whoami(&env, &fresh).await.is_ok());
    env.services.flush_usage().await.unwrap();
    let due = row(&env, &conn.id)
        .await
        .next_refresh_at
        .expect("scheduled again");
    // Used now, so when its refresh comes due the sweep makes it.
    env.clock.advance_ms(due - env.clock.now_ms() + 1_000);
    env.sim().clock().advance(Duration::from_millis(
        u64::try_from(due - env.sim().clock().unix() * 1_000 + 1_000).unwrap_or(0),
    ));
    assert_eq!(env.services.connections.refresh_due().await.unwrap(), 1);
    assert_eq!(token_calls(&env, 200), exchanged + 2);
}
