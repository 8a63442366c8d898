//! The control API, faults, counters, rate limits, modes and the path prefix.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use gitlab_sim::{FaultConfig, FaultRule, RateLimitSettings, Seed, SimOptions, SimServer};

#[tokio::test]
async fn seed_clock_and_requests_over_http() {
    let sim = SimServer::start(Seed::default()).await.unwrap();
    let seed = json!({
        "users": [{"username": "zed", "name": "Zed", "email": "zed@example.com"}],
        "tokens": [{"kind": "personal", "user": "zed", "name": "t", "scopes": ["api"], "token": "glpat-zedZEDzedZEDzed1234", "expires_at": "2099-01-01"}]
    });
    let r = post(&sim, "/-/sim/seed", None, seed).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        get(&sim, "/api/v4/user", Some("glpat-zedZEDzedZEDzed1234"))
            .await
            .body["username"],
        "zed"
    );
    let bad = post(&sim, "/-/sim/seed", None, json!({"bogus": 1})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let before = get(&sim, "/-/sim/clock", None).await.body["now"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(&sim, "/-/sim/clock/advance", None, json!({"seconds": 86_400})).await;
    assert_eq!(r.body["offset_seconds"], 86_400);
    assert!(r.body["now"].as_str().unwrap() > before.as_str());

    let counters = get(&sim, "/-/sim/requests", None).await.body;
    let row = counters
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["route"] == "/api/v4/user")
        .cloned()
        .unwrap();
    assert_eq!(
        row,
        json!({"method": "GET", "route": "/api/v4/user", "status": 200, "count": 1})
    );
    assert_eq!(sim.requests().count("GET", "/api/v4/user", 200), 1);
}

#[tokio::test]
async fn faults_are_deterministic_per_route() {
    let sim = start(standard()).await;
    sim.faults().set(FaultConfig {
        seed: 7,
        rules: vec![FaultRule {
            route: Some("/api/v4/user".into()),
            error_503: 0.5,
            ..FaultRule::default()
        }],
    });
    let mut first = Vec::new();
    for _ in 0..20 {
        first.push(get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status.as_u16());
    }
    assert!(first.contains(&503) && first.contains(&200));
    assert_eq!(
        get(&sim, "/api/v4/version", Some(ALICE_TOKEN)).await.status,
        StatusCode::OK,
        "other routes unaffected"
    );
    let r = call(
        &sim,
        reqwest::Method::PUT,
        "/-/sim/faults",
        None,
        Some(json!({"seed": 7, "rules": [{"route": "/api/v4/user", "error_503": 0.5}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut second = Vec::new();
    for _ in 0..20 {
        second.push(get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status.as_u16());
    }
    assert_eq!(first, second, "same seed, same sequence");
    assert_eq!(
        sim.requests().count("GET", "/api/v4/user", 503),
        first.iter().filter(|s| **s == 503).count() as u64 * 2
    );
}

#[tokio::test]
async fn reset_drops_the_connection_without_effect() {
    let sim = start(standard()).await;
    sim.faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self".into()),
        method: Some("DELETE".into()),
        reset: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    let r = client()
        .delete(format!("{}/api/v4/personal_access_tokens/self", sim.url()))
        .header("PRIVATE-TOKEN", BOB_TOKEN)
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client sees a broken connection");
    assert!(
        !sim.state().token(BOB_TOKEN).unwrap().revoked,
        "a reset happens before the effect"
    );
}

#[tokio::test]
async fn lost_answer_after_a_refresh_that_rotated() {
    let sim = start(standard()).await;
    let q = format!(
        "client_id={APP_UID}&redirect_uri={}&response_type=code&scope=api",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let loc = gitlab_sim::oauth::authorize(sim.state(), &q, "alice", true).unwrap();
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tok: Value = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt = tok["refresh_token"].as_str().unwrap();
    sim.faults().add(FaultRule {
        route: Some("/oauth/token".into()),
        lose_answer: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", APP_UID),
        ("client_secret", APP_SECRET),
    ];
    let lost = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&form)
        .send()
        .await;
    let failed = match lost {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed);
    let again = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "the lost refresh did rotate"
    );
    assert_eq!(sim.requests().count("POST", "/oauth/token", 0), 1);
}

#[tokio::test]
async fn storm_429_with_and_without_headers() {
    let sim = start(standard()).await;
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        retry_after: Some(30),
        times: Some(1),
        ..FaultRule::default()
    });
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("30"));
    assert!(r.header("ratelimit-reset").unwrap().parse::<i64>().unwrap() > 1_600_000_000);
    assert_eq!(r.text, "Retry later\n");
    sim.faults().add(FaultRule {
        storm_429: 1.0,
        storm_without_headers: true,
        times: Some(1),
        ..FaultRule::default()
    });
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_none() && r.header("ratelimit-limit").is_none());
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn latency_is_added() {
    let sim = start(standard()).await;
    sim.faults().add(FaultRule {
        route: Some("/api/v4/version".into()),
        latency_ms: 150,
        ..FaultRule::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(
        get(&sim, "/api/v4/version", Some(ALICE_TOKEN)).await.status,
        StatusCode::OK
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn a_delayed_answer_comes_after_the_effect() {
    let sim = start(standard()).await;
    sim.faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".into()),
        answer_delay_ms: 2_000,
        ..FaultRule::default()
    });
    // A client that gives up after 200 ms never sees the answer...
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/api/v4/personal_access_tokens/self/rotate", sim.url()))
        .header("PRIVATE-TOKEN", ALICE_TOKEN)
        .send()
        .await;
    assert!(sent.is_err_and(|error| error.is_timeout()));
    // ...but GitLab rotated: the old token is revoked already.
    assert!(sim.state().token(ALICE_TOKEN).unwrap().revoked);
}

/// Moves the simulated clock to the start of a rate-limit minute, so a burst never straddles two
/// fixed windows.
fn align_to_window_start(sim: &SimServer) {
    let into = sim.clock().unix().rem_euclid(60);
    sim.clock()
        .advance(std::time::Duration::from_secs(u64::try_from(60 - into).unwrap()));
}

#[tokio::test]
async fn authenticated_rate_limit_headers_and_429() {
    let sim = start(standard().rate_limits(RateLimitSettings {
        authenticated_api_per_minute: Some(3),
        ..RateLimitSettings::default()
    }))
    .await;
    align_to_window_start(&sim);
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.header("ratelimit-name"), Some("throttle_authenticated_api"));
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    assert_eq!(r.header("ratelimit-observed"), Some("1"));
    assert_eq!(r.header("ratelimit-remaining"), Some("2"));
    let reset: i64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        reset > sim.clock().unix() && reset <= sim.clock().unix() + 60,
        "absolute epoch seconds"
    );
    get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() <= 60);
    assert!(r.header("ratelimit-resettime").unwrap().ends_with(" GMT"));
    assert_eq!(
        get(&sim, "/api/v4/user", Some(BOB_TOKEN)).await.status,
        StatusCode::OK,
        "limits are per user"
    );
    sim.clock().advance(std::time::Duration::from_secs(61));
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status,
        StatusCode::OK,
        "a new window"
    );
    for _ in 0..3 {
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    }
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_READ)).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "per user by default"
    );
    sim.state().set_rate_limits(RateLimitSettings {
        authenticated_api_per_minute: Some(3),
        per_token: true,
        ..RateLimitSettings::default()
    });
    align_to_window_start(&sim);
    for _ in 0..3 {
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    }
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_READ)).await.status,
        StatusCode::OK,
        "per token when asked"
    );
}

#[tokio::test]
async fn endpoint_limits_send_no_headers() {
    let sim = start(standard()).await;
    let r = call(
        &sim,
        reqwest::Method::PUT,
        "/-/sim/rate_limits",
        None,
        Some(json!({"endpoint_limits": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    align_to_window_start(&sim);
    for _ in 0..200 {
        let r = get(&sim, "/api/v4/groups/acme/members/all", Some(ALICE_TOKEN)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("ratelimit-limit").is_none());
    }
    let r = get(&sim, "/api/v4/groups/acme/members/all", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.body,
        json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}})
    );
    assert!(r.header("retry-after").is_some());
    // The limit is per group.
    assert_eq!(
        get(
            &sim,
            "/api/v4/groups/acme%2Fplatform/members/all",
            Some(ALICE_TOKEN)
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn path_prefix_serves_everything_under_it() {
    let sim = SimServer::start_with(
        standard().build(),
        SimOptions {
            path_prefix: "/gitlab".into(),
            ..SimOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(sim.url().ends_with("/gitlab"));
    let r = get(&sim, "/api/v4/users?per_page=1", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("link")
            .unwrap()
            .contains("/gitlab/api/v4/users?per_page=1&page=2")
    );
    assert!(r.body[0]["web_url"].as_str().unwrap().contains("/gitlab/"));
    let bare = client()
        .get(format!("http://{}/api/v4/user", sim.addr()))
        .header("PRIVATE-TOKEN", ROOT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.requests().count("GET", "/api/v4/users", 200),
        1,
        "counters use prefix-free routes"
    );
}

#[tokio::test]
async fn control_api_creates_and_revokes_tokens() {
    let sim = start(standard()).await;
    let r = post(&sim, "/-/sim/tokens", None, json!({"kind": "project", "source": "acme/website", "name": "t", "scopes": ["api"], "access_level": 30})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let t = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sim, "/api/v4/user", Some(&t)).await.body["bot"], true);
    assert_eq!(
        post(&sim, "/-/sim/tokens/revoke", None, json!({"token": t}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&sim, "/api/v4/user", Some(&t)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
