//! The connection health sweep and journalled rotation across worker restarts, against gitlab-sim.

use gitlab_sim::{FaultRule, Seed, SimServer};
use labgate_core::auth::{Actor, Principal};
use labgate_core::clock::Clock;
use labgate_core::connections::CHECK_KIND;
use labgate_core::jobs::JobSpec;
use labgate_proto::api_keys::Role;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_worker::RunOutcome;
use serde_json::json;

use crate::{Env, env, worker};

const ALICE: &str = "glpat-aliceALICEalice1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";

struct Setup {
    env: Env,
    sim: SimServer,
    admin: Principal,
}

async fn setup() -> Setup {
    let mut env = env().await;
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .group("acme", "Acme")
            .project("acme/api", "API")
            .member("acme", "alice", 50)
            .personal_token("alice", "ci", &["api"], ALICE)
            .project_token("acme/api", "deploy", &["api", "read_repository"], 40, DEPLOY)
            .build(),
    )
    .await
    .unwrap();
    env.clock.set_ms(sim.clock().unix() * 1_000);
    let options = labgate_gitlab::ClientOptions {
        max_attempts: 1,
        request_timeout: std::time::Duration::from_secs(2),
        use_env_proxy: false,
        ..labgate_gitlab::ClientOptions::default()
    };
    env.services.connections = env.services.connections.clone().with_client_options(options);
    let tenant = env.services.tenants.create("acme", &Actor::Cli).await.unwrap();
    let admin = Principal {
        tenant_id: tenant.id,
        role: Role::Admin,
        actor: Actor::Cli,
        source_ip: None,
    };
    Setup { env, sim, admin }
}

fn create(url: &str, name: &str, token: &str, kind: &str, auto_rotate: bool) -> CreateConnectionRequest {
    CreateConnectionRequest {
        name: name.to_owned(),
        description: None,
        method: "access-token".to_owned(),
        credentials: Some(AccessTokenCredentials {
            access_token: token.to_owned(),
            instance_url: Some(url.to_owned()),
            access_token_type: kind.to_owned(),
        }),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: Some(auto_rotate),
        rotate_before_days: None,
    }
}

fn health_now() -> JobSpec {
    let mut spec = JobSpec::new(CHECK_KIND, json!({}));
    spec.dedupe_key = Some(CHECK_KIND.to_owned());
    spec
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
        .create(&s.admin, create(s.sim.url(), "deploy", DEPLOY, "project", false))
        .await
        .unwrap();
    s.sim.state().revoke_token(DEPLOY);
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    let w = worker(&s.env, "w1");
    let outcome = w.run_once().await.unwrap().unwrap();
    assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    assert_eq!(conns.get(&s.admin, &deploy.id).await.unwrap().status, "revoked");
    // Exactly one next sweep is queued, about six hours out.
    let (queued, total) = s
        .env
        .services
        .store
        .list_jobs(&labgate_store::JobFilter {
            kind: Some(CHECK_KIND),
            state: Some("queued"),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1);
    let wait = queued[0].run_at - s.env.clock.now_ms();
    assert!((5 * 3_600_000..=7 * 3_600_000).contains(&wait), "{wait}");
    w.schedule_recurring().await.unwrap();
    let (_, total) = s
        .env
        .services
        .store
        .list_jobs(&labgate_store::JobFilter {
            kind: Some(CHECK_KIND),
            state: Some("queued"),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1, "the dedupe key keeps one sweep");
}

#[tokio::test]
async fn a_rotation_interrupted_after_the_answer_is_applied_by_the_next_start() {
    let s = setup().await;
    let conns = &s.env.services.connections;
    s.sim
        .state()
        .set_token_expiry(ALICE, Some(s.sim.clock().today() + time::Duration::days(3)));
    let conn = conns
        .create(&s.admin, create(s.sim.url(), "p", ALICE, "personal", true))
        .await
        .unwrap();
    conns.set_crash_after_journal(true);
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    worker(&s.env, "w1").run_once().await.unwrap();
    assert_eq!(rotations(&s.sim), 1);
    assert_eq!(
        s.env.services.store.all_journal(10).await.unwrap().len(),
        1,
        "the answer waits in the journal"
    );
    // The process "restarts": a new worker starts and recovers the journal.
    conns.set_crash_after_journal(false);
    worker(&s.env, "w2").schedule_recurring().await.unwrap();
    assert!(s.env.services.store.all_journal(10).await.unwrap().is_empty());
    let after = conns.check(&s.admin, &conn.id).await.unwrap();
    assert_eq!((after.status.as_str(), after.version), ("active", 2));
    assert_eq!(rotations(&s.sim), 1);
}

#[tokio::test]
async fn a_lost_rotation_answer_needs_attention_and_survives_restarts() {
    let s = setup().await;
    let conns = &s.env.services.connections;
    s.sim
        .state()
        .set_token_expiry(ALICE, Some(s.sim.clock().today() + time::Duration::days(3)));
    let conn = conns
        .create(&s.admin, create(s.sim.url(), "p", ALICE, "personal", true))
        .await
        .unwrap();
    s.sim.faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        lose_answer: 1.0,
        ..FaultRule::default()
    });
    s.env.services.jobs.enqueue(&health_now()).await.unwrap();
    worker(&s.env, "w1").run_once().await.unwrap();
    assert_eq!(
        conns.get(&s.admin, &conn.id).await.unwrap().status,
        "needs_attention"
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
        conns.get(&s.admin, &conn.id).await.unwrap().status,
        "needs_attention"
    );
    assert_eq!(rotations(&s.sim), 1, "never retried with the old token");
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
            &s.admin,
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
        .create(&s.admin, create(s.sim.url(), "deploy", DEPLOY, "project", false))
        .await
        .unwrap();
    s.sim.state().revoke_token(DEPLOY);
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
