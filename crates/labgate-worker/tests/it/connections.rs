//! The connection health sweep and journalled rotation across worker restarts, against gitlab-sim.

use gitlab_sim::{FaultRule, Seed, SimServer};
use labgate_core::clock::Clock;
use labgate_core::jobs::{Job, JobKind, JobSpec, JobState};
use labgate_proto::connections::{AccessTokenCredentials, ConnectionStatus, CreateConnectionRequest};
use labgate_testkit::TestEnv;
use labgate_worker::RunOutcome;

use crate::worker;

const ALICE: &str = "glpat-aliceALICEalice1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";

struct Setup {
    env: TestEnv,
}

async fn setup() -> Setup {
    let seed = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .project("acme/api", "API")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE)
        .project_token("acme/api", "deploy", &["api", "read_repository"], 40, DEPLOY)
        .build();
    Setup {
        env: TestEnv::builder().sim(seed).build().await,
    }
}

async fn queued_sweeps(env: &TestEnv) -> Vec<Job> {
    env.services
        .jobs
        .of_kind(JobKind::ConnectionsHealth, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.state == JobState::Queued)
        .collect()
}

fn create(url: &str, name: &str, token: &str, kind: &str, auto_rotate: bool) -> CreateConnectionRequest {
    CreateConnectionRequest {
        name: name.to_owned(),
        description: None,
        method: "access-token".to_owned(),
        credentials: Some(
            AccessTokenCredentials {
                access_token: token.to_owned(),
                instance_url: Some(url.to_owned()),
                access_token_type: kind.to_owned(),
            }
            .into(),
        ),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: Some(auto_rotate),
        rotate_before_days: None,
    }
}

fn health_now() -> JobSpec {
    JobSpec::recurring(JobKind::ConnectionsHealth)
}

fn rotations(sim: &SimServer) -> u64 {
    sim.requests()
        .snapshot()
        .iter()
        .filter(|c| c.route.ends_with("/rotate"))
        .map(|c| c.count)
        .sum()
}

#[tokio::test]
async fn the_health_sweep_moves_statuses_and_recurs_once() {
    let s = setup().await;
    let conns = &s.env.services.connections;
    let deploy = conns
        .create(
            &s.env.admin,
            create(s.env.sim().url(), "deploy", DEPLOY, "project", false),
        )
        .await
        .unwrap();
    s.env.sim().state().revoke_token(DEPLOY);
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    let w = worker(&s.env, "w1");
    let outcome = w.run_once().await.unwrap().unwrap();
    assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    assert_eq!(
        conns.get(&s.env.admin, &deploy.id).await.unwrap().status,
        ConnectionStatus::Revoked
    );
    // Exactly one next sweep is queued, about six hours out.
    let queued = queued_sweeps(&s.env).await;
    assert_eq!(queued.len(), 1);
    let wait = queued[0].run_at - s.env.clock.now();
    assert!(
        (time::Duration::hours(5)..=time::Duration::hours(7)).contains(&wait),
        "{wait}"
    );
    w.schedule_recurring().await.unwrap();
    assert_eq!(
        queued_sweeps(&s.env).await.len(),
        1,
        "the dedupe key keeps one sweep"
    );
}

#[tokio::test]
async fn a_rotation_interrupted_after_the_answer_is_applied_by_the_next_start() {
    let s = setup().await;
    let conns = &s.env.services.connections;
    s.env
        .sim()
        .state()
        .set_token_expiry(ALICE, Some(s.env.sim().clock().today() + time::Duration::days(3)));
    let conn = conns
        .create(
            &s.env.admin,
            create(s.env.sim().url(), "p", ALICE, "personal", true),
        )
        .await
        .unwrap();
    let crash = labgate_core::failpoints::fail("rotation.after-journal", &conn.id);
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    worker(&s.env, "w1").run_once().await.unwrap();
    assert_eq!(rotations(s.env.sim()), 1);
    assert_eq!(
        s.env.store.all_journal(10).await.unwrap().len(),
        1,
        "the answer waits in the journal"
    );
    // The process "restarts": a new worker starts and recovers the journal.
    drop(crash);
    worker(&s.env, "w2").schedule_recurring().await.unwrap();
    assert!(s.env.store.all_journal(10).await.unwrap().is_empty());
    let after = conns.check(&s.env.admin, &conn.id).await.unwrap();
    assert_eq!((after.status, after.version), (ConnectionStatus::Active, 2));
    assert_eq!(rotations(s.env.sim()), 1);
}

#[tokio::test]
async fn a_lost_rotation_answer_needs_attention_and_survives_restarts() {
    let s = setup().await;
    let conns = &s.env.services.connections;
    s.env
        .sim()
        .state()
        .set_token_expiry(ALICE, Some(s.env.sim().clock().today() + time::Duration::days(3)));
    let conn = conns
        .create(
            &s.env.admin,
            create(s.env.sim().url(), "p", ALICE, "personal", true),
        )
        .await
        .unwrap();
    s.env.sim().faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        lose_answer: 1.0,
        ..FaultRule::default()
    });
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    worker(&s.env, "w1").run_once().await.unwrap();
    assert_eq!(
        conns.get(&s.env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::NeedsAttention
    );
    for owner in ["w2", "w3"] {
        let w = worker(&s.env, owner);
        w.schedule_recurring().await.unwrap();
        s.env.clock.advance_ms(7 * 3_600_000);
        while let Some(outcome) = w.run_once().await.unwrap() {
            assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
        }
    }
    assert_eq!(
        conns.get(&s.env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::NeedsAttention
    );
    assert_eq!(rotations(s.env.sim()), 1, "never retried with the old token");
}

#[tokio::test]
async fn a_revocation_reaches_subscribers_as_a_signed_webhook() {
    use labgate_proto::webhooks::CreateWebhookRequest;
    use secrecy::ExposeSecret;

    let s = setup().await;
    let receiver = crate::webhooks::Receiver::default();
    let url = crate::webhooks::start(receiver.clone()).await;
    let (_, secret) = s
        .env
        .services
        .webhooks
        .create(
            &s.env.admin,
            CreateWebhookRequest {
                url,
                description: None,
                events: Some(vec!["connection.status_changed".into()]),
                enabled: None,
                secret: None,
            },
        )
        .await
        .unwrap();
    let conns = &s.env.services.connections;
    let conn = conns
        .create(
            &s.env.admin,
            create(s.env.sim().url(), "deploy", DEPLOY, "project", false),
        )
        .await
        .unwrap();
    s.env.sim().state().revoke_token(DEPLOY);
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    let w = worker(&s.env, "w1");
    while let Some(outcome) = w.run_once().await.unwrap() {
        assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    }
    let received = receiver.received.lock().clone();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    crate::webhooks::verify(secret.expose_secret(), headers, body);
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "connection.status_changed");
    assert_eq!(event["data"]["connectionId"], conn.id.as_str());
    assert_eq!(
        (
            event["data"]["fromStatus"].as_str(),
            event["data"]["toStatus"].as_str()
        ),
        (Some("active"), Some("revoked"))
    );
    assert!(!body.contains(DEPLOY));
}

fn refreshes(sim: &SimServer) -> u64 {
    sim.requests()
        .snapshot()
        .iter()
        .filter(|c| c.route == "/oauth/token")
        .map(|c| c.count)
        .sum()
}

#[tokio::test]
async fn oauth_connections_refresh_ahead_of_expiry_at_about_three_quarters_of_the_lifetime() {
    let env = TestEnv::builder()
        .sim(labgate_testkit::sim::standard_seed().build())
        .oauth()
        .build()
        .await;
    let connection = env.connect_oauth("alice-oauth", "alice", None).await;
    let w = worker(&env, "w1");
    w.schedule_recurring().await.unwrap();
    let exchanges = refreshes(env.sim());
    // An hour in, nothing is due: the refresh job runs and refreshes nothing.
    let step = std::time::Duration::from_secs(3_600);
    env.clock.advance_ms(3_600_000);
    env.sim().clock().advance(step);
    while let Some(outcome) = w.run_once().await.unwrap() {
        assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    }
    assert_eq!(refreshes(env.sim()), exchanges);
    // Past 80% of the two hours (75% ± 5% jitter), the job refreshes it.
    env.clock.advance_ms(40 * 60_000);
    env.sim().clock().advance(std::time::Duration::from_secs(40 * 60));
    let refresh = env
        .services
        .jobs
        .of_kind(JobKind::ConnectionsRefresh, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|job| job.state == JobState::Queued)
        .expect("the refresh job recurs");
    assert!(refresh.run_at <= env.clock.now());
    while let Some(outcome) = w.run_once().await.unwrap() {
        assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    }
    assert_eq!(refreshes(env.sim()), exchanges + 1, "one refresh reached GitLab");
    let after = env
        .services
        .connections
        .get(&env.admin, &connection.id)
        .await
        .unwrap();
    assert_eq!(after.status, ConnectionStatus::Active);
    assert!(after.version > connection.version);
    assert!(after.expires_at > connection.expires_at, "a new two-hour token");
}
