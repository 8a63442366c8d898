//! No token in logs, errors or Debug output, across success and every error path.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitlab_sim::FaultRule;
use labgate_gitlab::oauth::OAuthClient;
use labgate_gitlab::*;
use secrecy::{ExposeSecret, SecretString};

use crate::common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn note(rendered: &mut Vec<String>, e: &GitLabError) {
    rendered.push(format!("{e} {e:?}"));
}

fn rule(route: &str) -> FaultRule {
    FaultRule {
        route: Some(route.into()),
        ..FaultRule::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_in_logs_errors_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let mut secrets: Vec<String> = ALL_TOKENS.iter().map(|s| (*s).to_owned()).collect();
    let mut rendered = Vec::<String>::new();

    // Successes.
    c.current_user(&pat(ALICE_TOKEN)).await.unwrap();
    for t in [
        ALICE_TOKEN,
        DEPLOY_TOKEN,
        GROUP_TOKEN,
        ALICE_REPO,
        CUSTOM_PREFIX_TOKEN,
    ] {
        rendered.push(format!("{:?}", c.introspect(&pat(t)).await.unwrap()));
    }
    collect(c.projects(&pat(ALICE_TOKEN), &ProjectFilter::default()))
        .await
        .unwrap();
    let vars = collect(c.variables(&pat(ALICE_TOKEN), &Source::Project("acme/platform/api".into())))
        .await
        .unwrap();
    rendered.push(format!("{vars:?}"));
    secrets.push("postgres://db".into());
    let rotated = c.rotate_self(&pat(CAROL_TOKEN), None).await.unwrap();
    secrets.push(rotated.token.expose_secret().to_owned());
    rendered.push(format!("{rotated:?} {:?}", pat(ALICE_TOKEN)));

    // OAuth: exchange, refresh, reuse (invalid_grant), revoke.
    let oauth = OAuthClient::new(c.clone(), crate::oauth::app(APP_SECRET));
    let tokens = crate::oauth::connect(&sim, &oauth, "alice").await;
    secrets.push(tokens.access_token.expose_secret().to_owned());
    let rt = tokens.refresh_token.clone().unwrap();
    secrets.push(rt.expose_secret().to_owned());
    let fresh = oauth.refresh(&rt).await.unwrap();
    secrets.push(fresh.access_token.expose_secret().to_owned());
    secrets.push(fresh.refresh_token.as_ref().unwrap().expose_secret().to_owned());
    rendered.push(format!("{fresh:?} {oauth:?}"));
    note(&mut rendered, &oauth.refresh(&rt).await.unwrap_err());
    c.introspect(&Credential::OAuth(fresh.access_token.clone()))
        .await
        .unwrap();
    oauth.revoke(&fresh.access_token, false).await.unwrap();
    note(
        &mut rendered,
        &c.current_user(&Credential::OAuth(fresh.access_token.clone()))
            .await
            .unwrap_err(),
    );
    note(
        &mut rendered,
        &OAuthClient::new(c.clone(), crate::oauth::app("gloas-wrong-secret"))
            .refresh(fresh.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err(),
    );

    // Every error family.
    note(
        &mut rendered,
        &c.current_user(&pat("glpat-unknownUNKNOWN000000"))
            .await
            .unwrap_err(),
    );
    secrets.push("glpat-unknownUNKNOWN000000".into());
    note(
        &mut rendered,
        &c.current_user(&pat(ALICE_REPO)).await.unwrap_err(),
    );
    note(
        &mut rendered,
        &c.project(&pat(ALICE_TOKEN), &"nope/nope".into())
            .await
            .unwrap_err(),
    );
    let api = Source::Project("acme/platform/api".into());
    note(
        &mut rendered,
        &c.create_variable(
            &pat(BOB_TOKEN),
            &api,
            &NewVariable::new("K", SecretString::from("v".to_owned())),
        )
        .await
        .unwrap_err(),
    );
    let dup = NewVariable::new("DB_URL", SecretString::from("postgres://other-secret".to_owned()));
    secrets.push("postgres://other-secret".into());
    note(
        &mut rendered,
        &c.create_variable(&pat(ALICE_TOKEN), &api, &dup)
            .await
            .unwrap_err(),
    );
    sim.faults().add(FaultRule {
        error_500: 1.0,
        ..rule("/api/v4/version")
    });
    note(&mut rendered, &c.version(&pat(ALICE_TOKEN)).await.unwrap_err());
    sim.faults().add(FaultRule {
        reset: 1.0,
        ..rule("/api/v4/metadata")
    });
    note(&mut rendered, &c.metadata(&pat(ALICE_TOKEN)).await.unwrap_err());
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        retry_after: Some(900),
        ..rule("/api/v4/groups/{id}")
    });
    note(
        &mut rendered,
        &c.group(&pat(BOB_TOKEN), &"acme".into()).await.unwrap_err(),
    );
    sim.faults().add(FaultRule {
        lose_answer: 1.0,
        ..rule("/api/v4/personal_access_tokens/self/rotate")
    });
    let lost = c.rotate_self(&pat(ALICE_TOKEN), None).await.unwrap_err();
    assert!(matches!(lost, GitLabError::Transient { .. }), "{lost:?}");
    note(&mut rendered, &lost);
    sim.faults().add(FaultRule {
        latency_ms: 300,
        ..rule("/api/v4/user")
    });
    let hasty = client_for_url(
        sim.url(),
        ClientOptions {
            request_timeout: Duration::from_millis(50),
            max_attempts: 1,
            ..fast_client_options()
        },
    );
    note(
        &mut rendered,
        &hasty.current_user(&pat(BOB_TOKEN)).await.unwrap_err(),
    );
    let blocked = GitLabClient::new(
        InstanceSettings::new(
            GitLabBaseUrl::parse(&format!("https://localhost:{}", sim.addr().port())).unwrap(),
        ),
        &NetworkPolicy::deny_internal(),
    )
    .unwrap();
    note(
        &mut rendered,
        &blocked.current_user(&pat(ALICE_TOKEN)).await.unwrap_err(),
    );
    let short = c
        .create_resource_access_token(
            &pat(ROOT_TOKEN),
            &Source::Project("acme/website".into()),
            &NewResourceToken {
                name: "short".into(),
                scopes: vec!["read_api".into()],
                access_level: None,
                expires_at: Some(time::OffsetDateTime::now_utc().date() + time::Duration::days(2)),
                description: None,
            },
        )
        .await
        .unwrap();
    secrets.push(short.token.expose_secret().to_owned());
    sim.clock().advance(Duration::from_secs(3 * 86_400));
    let expired = c
        .current_user(&Credential::PrivateToken(short.token.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        expired,
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Expired
        }
    );
    note(&mut rendered, &expired);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture works and carries what operators need.
    assert!(logs.contains("GitLab answered"), "{logs}");
    assert!(
        logs.contains("path=\"/projects/{id}/variables\"") || logs.contains("path=/projects/{id}/variables")
    );
    assert!(logs.contains("status=429") && logs.contains("status=500"));
    assert!(logs.contains("GitLab request failed"));
    assert!(rendered.len() > 15);
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "secret found in logs");
        for r in &rendered {
            assert!(
                !r.contains(s.as_str()),
                "secret found in an error or Debug output: {r}"
            );
        }
    }
}
