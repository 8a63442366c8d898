//! Incremental access sync end to end: a membership changed at gitlab-sim reaches labgate (served
//! on a real socket) through the group hook installed for the access source, a targeted run
//! re-reads the changed group, and the new grant is in that run's snapshot.

use gitlab_sim::Seed;
use labgate_core::access::AccessSyncSettings;
use labgate_core::access::hooks::{Delivery, HookScope, HookSource};
use labgate_core::access::model::{AccessLevel, GitLabGroupId, GitLabUserId, Resource};
use labgate_core::access::snapshot::Snapshots;
use labgate_core::ids::{AccessSourceId, AccessSyncRunId, ConnectionId};
use labgate_proto::access::{
    AccessScope, AccessScopeKind, AccessSyncKind, AccessSyncStatus, CreateAccessSourceRequest,
};
use labgate_testkit::TestEnv;
use labgate_testkit::sim::fast_client_options;
use labgate_worker::{RunOutcome, Worker};

use super::secret_scanning::{token_connection, worker_with};

const ALICE: &str = "glpat-aliceALICEalice1234";

async fn drain(worker: &Worker) -> Vec<RunOutcome> {
    let mut outcomes = Vec::new();
    while let Some(outcome) = worker.run_once().await.unwrap() {
        outcomes.push(outcome);
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_at_gitlab_lands_in_a_targeted_runs_snapshot() {
    let seed = Seed::builder()
        .user("alice")
        .user("dave")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/platform/api", "API")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let served = env.serve().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let mut services = env.services.clone().with_site_url(Some(&served.url("")));
    services.connections = services
        .connections
        .clone()
        .with_client_options(fast_client_options());
    services.access = services
        .access
        .clone()
        .with_connections(services.connections.clone())
        .with_settings(AccessSyncSettings {
            max_rpm: 100_000,
            concurrency: 3,
        });
    let worker = worker_with(&services, "w1");
    let access = &services.access;
    let source = access
        .create(
            &env.admin,
            CreateAccessSourceRequest {
                name: "acme".into(),
                connection_id: connection.clone(),
                scope: AccessScope {
                    kind: AccessScopeKind::Group,
                    full_path: Some("acme".into()),
                },
            },
        )
        .await
        .unwrap();
    access.trigger_sync(&env.admin, &source.id).await.unwrap();
    assert!(matches!(
        drain(&worker).await.as_slice(),
        [RunOutcome::Succeeded { .. }]
    ));

    let state = env.sim().state();
    let acme = state.group_id("acme").unwrap();
    let platform = state.group_id("acme/platform").unwrap();
    let dave = state.user_id("dave").unwrap();
    let installed = services
        .access_hooks
        .install_for_source(&HookSource {
            tenant_id: env.admin.tenant_id.clone(),
            source_id: AccessSourceId::parse(&source.id).unwrap(),
            connection_id: ConnectionId::parse(&connection).unwrap(),
            scope: HookScope::Group(GitLabGroupId(acme)),
        })
        .await
        .unwrap();
    assert_eq!(installed.delivery, Delivery::Hooks);

    // alice (Owner of acme) adds dave to acme/platform at GitLab.
    let added = served
        .client(std::time::Duration::from_secs(10))
        .post(format!(
            "{}/api/v4/groups/acme%2Fplatform/members",
            env.sim().url()
        ))
        .header("PRIVATE-TOKEN", ALICE)
        .json(&serde_json::json!({"user_id": dave, "access_level": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let delivered = state.hook_deliveries();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].event, "Member Hook");
    assert_eq!(delivered[0].status, Some(202), "labgate queued a targeted run");

    let runs = access.syncs(&env.admin, &source.id).await.unwrap().syncs;
    let targeted = &runs[0];
    assert_eq!(
        (targeted.kind, targeted.status),
        (AccessSyncKind::Targeted, AccessSyncStatus::Queued)
    );
    env.sim().requests().reset();
    assert!(matches!(
        drain(&worker).await.as_slice(),
        [RunOutcome::Succeeded { .. }]
    ));
    let run = access.sync(&env.admin, &targeted.id).await.unwrap();
    assert_eq!(run.status, AccessSyncStatus::Succeeded, "{run:?}");

    let (_, grants) = Snapshots::new(env.store.clone())
        .load(&AccessSyncRunId::parse(&run.id).unwrap())
        .await
        .unwrap();
    let grant = grants
        .iter()
        .find(|g| g.account == GitLabUserId(dave) && g.resource == Resource::Group(GitLabGroupId(platform)))
        .expect("dave's new grant on acme/platform is in the targeted run's snapshot");
    assert_eq!(grant.role.level, AccessLevel::DEVELOPER);
    // Inherited down to the project, computed from the re-read group.
    assert!(
        grants
            .iter()
            .any(|g| g.account == GitLabUserId(dave) && matches!(g.resource, Resource::Project(_)))
    );
    // The targeted run read only a little, far below a full sync.
    assert!(run.request_count < 10, "{}", run.request_count);
}
