//! Error families, retries, 5xx bursts, resets, latency, 429 storms and the rate limiter.

use std::time::{Duration, Instant};

use axum::routing::get;
use gitlab_sim::{FaultRule, RateLimitSettings};
use labgate_gitlab::*;

use crate::common::*;

/// Moves the simulator's clock to just after the start of a rate-limit minute, so a test's
/// requests all fall into one fixed window.
fn fresh_window(sim: &gitlab_sim::SimServer) {
    let now = sim.clock().unix();
    sim.clock().advance(Duration::from_secs(
        u64::try_from(60 - now.rem_euclid(60)).unwrap() + 1,
    ));
}

fn rule(route: &str) -> FaultRule {
    FaultRule {
        route: Some(route.into()),
        ..FaultRule::default()
    }
}

#[tokio::test]
async fn each_gitlab_error_family() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let invalid = c
        .current_user(&pat("glpat-nopeNOPEnope12345678"))
        .await
        .unwrap_err();
    assert_eq!(
        invalid,
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Invalid
        }
    );
    let scope = c.current_user(&pat(ALICE_REPO)).await.unwrap_err();
    let GitLabError::InsufficientScope { required } = &scope else {
        panic!("{scope:?}")
    };
    assert!(required.contains(&"read_user".to_owned()), "{required:?}");
    assert!(scope.to_string().contains("read_user"));
    let forbidden = c
        .create_variable(
            &pat(BOB_TOKEN),
            &Source::Project("acme/platform/api".into()),
            &NewVariable::new("X", "y".to_owned().into()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(forbidden, GitLabError::Forbidden { .. }),
        "{forbidden:?}"
    );
    let missing = c
        .project(&pat(ALICE_TOKEN), &"acme/nothing".into())
        .await
        .unwrap_err();
    let GitLabError::NotFound { message, path } = &missing else {
        panic!("{missing:?}")
    };
    assert_eq!(message, "404 Project Not Found");
    assert_eq!(path, "/projects/{id}");
    let past = time::OffsetDateTime::now_utc().date() - time::Duration::days(1);
    let bad = c.rotate_self(&pat(CAROL_TOKEN), Some(past)).await.unwrap_err();
    assert!(
        matches!(bad, GitLabError::BadRequest { status: 400, .. }),
        "{bad:?}"
    );
    let deploy_id = c.personal_access_token_self(&pat(DEPLOY_TOKEN)).await.unwrap().id;
    let not_pat = c
        .rotate_personal_token(&pat(ROOT_TOKEN), deploy_id, None)
        .await
        .unwrap_err();
    assert!(
        matches!(not_pat, GitLabError::MethodNotAllowed { .. }),
        "{not_pat:?}"
    );
}

#[tokio::test]
async fn five_xx_bursts_and_resets_are_retried_for_reads() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    sim.faults().add(FaultRule {
        error_503: 1.0,
        times: Some(2),
        ..rule("/api/v4/user")
    });
    assert_eq!(c.current_user(&pat(ALICE_TOKEN)).await.unwrap().username, "alice");
    assert_eq!(count(&sim, "GET", "/user"), 3);
    sim.faults().add(FaultRule {
        reset: 1.0,
        times: Some(2),
        ..rule("/api/v4/user")
    });
    assert_eq!(c.current_user(&pat(ALICE_TOKEN)).await.unwrap().username, "alice");
    assert_eq!(count(&sim, "GET", "/user"), 6);
    sim.faults().add(FaultRule {
        error_502: 1.0,
        times: Some(1),
        ..rule("/api/v4/projects")
    });
    let projects = collect(c.projects(&pat(ALICE_TOKEN), &ProjectFilter::default()))
        .await
        .unwrap();
    assert!(!projects.is_empty());

    // A persistent failure ends after `max_attempts` with a transient error.
    sim.faults().add(FaultRule {
        error_500: 1.0,
        ..rule("/api/v4/version")
    });
    let err = c.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Transient {
                status: Some(500),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(
        count(&sim, "GET", "/version"),
        u64::from(c.options().max_attempts)
    );
}

#[tokio::test]
async fn writes_are_not_retried() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    sim.faults().add(FaultRule {
        error_503: 1.0,
        times: Some(1),
        method: Some("POST".into()),
        ..rule("/api/v4/projects/{id}/variables")
    });
    let err = c
        .create_variable(
            &pat(ALICE_TOKEN),
            &Source::Project("acme/platform/api".into()),
            &NewVariable::new("NEW", "v".to_owned().into()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Transient {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&sim, "POST", "/projects/{id}/variables"), 1);
}

#[tokio::test]
async fn latency_and_timeouts() {
    let sim = start_sim(standard_seed()).await;
    sim.faults().add(FaultRule {
        latency_ms: 150,
        ..rule("/api/v4/user")
    });
    let patient = client(&sim);
    let t = Instant::now();
    patient.current_user(&pat(ALICE_TOKEN)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    let hasty = client_for_url(
        sim.url(),
        ClientOptions {
            request_timeout: Duration::from_millis(50),
            max_attempts: 2,
            ..fast_client_options()
        },
    );
    let err = hasty.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::Timeout {
            after: Duration::from_millis(50)
        }
    );
    assert_eq!(err.code(), "timeout");
}

#[tokio::test]
async fn storms_of_429_honour_retry_after() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        retry_after: Some(1),
        times: Some(2),
        ..rule("/api/v4/user")
    });
    let t = Instant::now();
    c.current_user(&pat(ALICE_TOKEN)).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "waited Retry-After twice: {:?}",
        t.elapsed()
    );
    assert_eq!(sim.requests().count("GET", "/api/v4/user", 429), 2);

    // Without any header the client backs off with jitter on its own.
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        storm_without_headers: true,
        times: Some(1),
        ..rule("/api/v4/user")
    });
    let t = Instant::now();
    c.current_user(&pat(BOB_TOKEN)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());

    // A Retry-After beyond what the caller accepts to wait: give up at once and say when.
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        retry_after: Some(600),
        times: Some(1),
        ..rule("/api/v4/user")
    });
    let err = c.current_user(&pat(CAROL_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::RateLimited {
            retry_after: Some(Duration::from_secs(600))
        }
    );
    let before = sim.requests().total("GET", "/api/v4/user");
    // The same token stays blocked client-side, without a request; other tokens are free.
    let again = c.current_user(&pat(CAROL_TOKEN)).await.unwrap_err();
    assert!(
        matches!(again, GitLabError::RateLimited { retry_after: Some(d) } if d > Duration::from_secs(590))
    );
    assert_eq!(sim.requests().total("GET", "/api/v4/user"), before);
    c.current_user(&pat(ALICE_TOKEN)).await.unwrap();
}

#[tokio::test]
async fn limiter_slows_down_as_remaining_falls() {
    let sim = start_sim(standard_seed().rate_limits(RateLimitSettings {
        authenticated_api_per_minute: Some(400),
        ..RateLimitSettings::default()
    }))
    .await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    fresh_window(&sim);
    c.current_user(&alice).await.unwrap();
    let s = c.rate_limit_state(Some(&alice));
    assert_eq!(s.limit, Some(400));
    assert_eq!(s.remaining, Some(399));
    assert_eq!(s.spacing, Duration::ZERO, "plenty of quota: no pacing");
    // Use up the quota to below a quarter, then the client spreads what is left.
    for _ in 0..300 {
        c.version(&alice).await.unwrap();
    }
    let s = c.rate_limit_state(Some(&alice));
    assert!(s.remaining.unwrap() < 100, "{s:?}");
    assert!(s.spacing > Duration::ZERO, "{s:?}");
    assert_eq!(sim.requests().count("GET", "/api/v4/version", 429), 0);
    // Another token of another user is not slowed down.
    assert_eq!(c.rate_limit_state(Some(&pat(BOB_TOKEN))).spacing, Duration::ZERO);
}

#[tokio::test]
async fn application_limits_without_headers() {
    let sim = start_sim(standard_seed().rate_limits(RateLimitSettings {
        endpoint_limits: true,
        ..RateLimitSettings::default()
    }))
    .await;
    let c = client_for_url(
        sim.url(),
        ClientOptions {
            max_rate_limit_wait: Duration::from_secs(1),
            ..fast_client_options()
        },
    );
    let alice = pat(ALICE_TOKEN);
    fresh_window(&sim);
    // GET /groups/:id allows 400/min on GitLab.com and sends no informational headers.
    let mut limited = None;
    for _ in 0..420 {
        if let Err(e) = c.group(&alice, &"acme".into()).await {
            limited = Some(e);
            break;
        }
    }
    let e = limited.expect("the endpoint limit is reached");
    assert!(
        matches!(e, GitLabError::RateLimited { retry_after: Some(_) }),
        "{e:?}"
    );
    assert!(c.rate_limit_state(Some(&alice)).consecutive_429 >= 1);
}

#[tokio::test]
async fn html_instead_of_json() {
    let app = axum::Router::new()
        .route(
            "/api/v4/user",
            get(|| async {
                (
                    [("content-type", "text/html; charset=utf-8")],
                    "<html><body>Sign in</body></html>",
                )
            }),
        )
        .route(
            "/api/v4/version",
            get(|| async {
                (
                    axum::http::StatusCode::NOT_FOUND,
                    [("content-type", "text/html")],
                    "<html>Not Found</html>",
                )
            }),
        );
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), fast_client_options());
    let err = c.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::UnexpectedResponse {
            status: 200,
            content_type: Some("text/html".into())
        }
    );
    assert!(err.to_string().contains("check the instance URL"));
    let err = c.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::UnexpectedResponse {
            status: 404,
            content_type: Some("text/html".into())
        }
    );
}

#[tokio::test]
async fn html_success_on_a_delete_is_not_success() {
    let app = axum::Router::new().route(
        "/api/v4/personal_access_tokens/self",
        axum::routing::delete(|| async { ([("content-type", "text/html")], "<html>Sign in</html>") }),
    );
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), fast_client_options());
    let err = c.revoke_self(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::UnexpectedResponse {
            status: 200,
            content_type: Some("text/html".into())
        }
    );
}
