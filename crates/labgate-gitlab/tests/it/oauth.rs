//! OAuth through the `oauth2` crate over the guarded client: PKCE, exchange, strict refresh
//! rotation, revoke, token info, and introspection of OAuth tokens.

use gitlab_sim::SimServer;
use labgate_gitlab::oauth::{OAuthApp, OAuthClient, OAuthTokens};
use labgate_gitlab::*;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::common::*;

pub fn app(secret: &str) -> OAuthApp {
    OAuthApp {
        client_id: APP_UID.into(),
        client_secret: Some(SecretString::from(secret.to_owned())),
        redirect_uri: Url::parse(REDIRECT).unwrap(),
    }
}

/// Runs the browser part (the user approves) and exchanges the code.
pub async fn connect(sim: &SimServer, oauth: &OAuthClient, user: &str) -> OAuthTokens {
    let scopes = vec!["api".to_owned(), "read_user".to_owned()];
    let (url, verifier) = oauth.authorize_url(&scopes, "state-123").unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/oauth/authorize?", sim.url()))
    );
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "api read_user");
    assert_eq!(q["state"], "state-123");
    let location = gitlab_sim::oauth::authorize(sim.state(), url.query().unwrap(), user, true).unwrap();
    let back = Url::parse(&location).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    oauth
        .exchange_code(&SecretString::from(code), Some(&verifier))
        .await
        .unwrap()
}

#[tokio::test]
async fn authorize_exchange_refresh_revoke() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let oauth = OAuthClient::new(c.clone(), app(APP_SECRET));
    let tokens = connect(&sim, &oauth, "alice").await;
    assert_eq!(tokens.expires_in, Some(std::time::Duration::from_secs(7200)));
    assert!(tokens.expires_at.is_some());
    let access = Credential::OAuth(tokens.access_token.clone());
    assert_eq!(c.current_user(&access).await.unwrap().username, "alice");

    let info = oauth.token_info(&tokens.access_token).await.unwrap();
    assert_eq!(info.application.unwrap().uid.as_deref(), Some(APP_UID));
    assert!(info.scope.contains(&"api".to_owned()));
    let intro = c.introspect(&access).await.unwrap();
    assert_eq!(intro.kind, TokenKind::OAuth);
    assert_eq!(intro.requests, 2);
    assert_eq!(intro.owner.unwrap().username.as_deref(), Some("alice"));
    assert_eq!(intro.application_uid.as_deref(), Some(APP_UID));
    // An OAuth token handed over as if it were a personal token is still recognised.
    let as_pat = c
        .introspect(&Credential::PrivateToken(tokens.access_token.clone()))
        .await
        .unwrap();
    assert_eq!(as_pat.kind, TokenKind::OAuth);

    // Refresh rotates both tokens; the old refresh token then gets invalid_grant.
    let rt = tokens.refresh_token.clone().unwrap();
    let fresh = oauth.refresh(&rt).await.unwrap();
    assert_ne!(
        fresh.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );
    assert!(
        c.current_user(&access).await.is_err(),
        "old access token dies with the refresh"
    );
    assert_eq!(oauth.refresh(&rt).await.unwrap_err(), GitLabError::InvalidGrant);
    assert_eq!(sim.requests().total("POST", "/oauth/token"), 3);

    let new_access = Credential::OAuth(fresh.access_token.clone());
    assert_eq!(c.current_user(&new_access).await.unwrap().username, "alice");
    oauth.revoke(&fresh.access_token, false).await.unwrap();
    let err = c.current_user(&new_access).await.unwrap_err();
    assert!(matches!(err, GitLabError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn expired_access_tokens_and_bad_codes() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let oauth = OAuthClient::new(c.clone(), app(APP_SECRET));
    let tokens = connect(&sim, &oauth, "alice").await;
    sim.clock().advance(std::time::Duration::from_secs(7300));
    let err = c
        .current_user(&Credential::OAuth(tokens.access_token.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Expired
        }
    );
    // Refresh tokens outlive the access token.
    let fresh = oauth
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        c.current_user(&Credential::OAuth(fresh.access_token))
            .await
            .is_ok()
    );

    let (_, verifier) = oauth.authorize_url(&["api".to_owned()], "s").unwrap();
    let err = oauth
        .exchange_code(&SecretString::from("not-a-code".to_owned()), Some(&verifier))
        .await
        .unwrap_err();
    assert_eq!(err, GitLabError::InvalidGrant);
}

#[tokio::test]
async fn renewed_application_secret_is_invalid_client() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let oauth = OAuthClient::new(c.clone(), app(APP_SECRET));
    let tokens = connect(&sim, &oauth, "bob").await;
    sim.state().renew_oauth_secret(APP_UID).unwrap();
    let err = oauth
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err, GitLabError::InvalidClient);
    assert!(err.to_string().contains("application id and secret"));
}

#[tokio::test]
async fn oauth_calls_are_never_retried_and_html_is_recognised() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let oauth = OAuthClient::new(c.clone(), app(APP_SECRET));
    let tokens = connect(&sim, &oauth, "alice").await;
    sim.faults().add(gitlab_sim::FaultRule {
        route: Some("/oauth/token".into()),
        error_502: 1.0,
        times: Some(1),
        ..gitlab_sim::FaultRule::default()
    });
    let before = sim.requests().total("POST", "/oauth/token");
    let err = oauth
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Transient {
                status: Some(502),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sim.requests().total("POST", "/oauth/token"), before + 1);
    // The refresh token is still good: the 502 happened before GitLab handled it.
    assert!(
        oauth
            .refresh(tokens.refresh_token.as_ref().unwrap())
            .await
            .is_ok()
    );

    // The SSRF guard applies to OAuth calls too.
    let blocked = GitLabClient::new(
        InstanceSettings::new(
            GitLabBaseUrl::parse(&format!("https://localhost:{}", sim.addr().port())).unwrap(),
        ),
        &NetworkPolicy::deny_internal(),
    )
    .unwrap();
    let err = OAuthClient::new(blocked, app(APP_SECRET))
        .refresh(&SecretString::from("x".to_owned()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::Loopback,
                ..
            }
        ),
        "{err:?}"
    );
}
