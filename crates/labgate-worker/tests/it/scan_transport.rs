//! How git reaches the instance during a scan: only at the address the SSRF guard checked. A
//! name git could not resolve itself is fetched through the pinned address; a name resolving to
//! an internal address is refused before git starts.

use super::secret_scanning::{scanning_env_services as scanning_services, worker_with};
use labgate_core::NetworkSettings;
use labgate_core::scanning::findings::FindingQuery;
use labgate_gitlab::NetworkPolicy;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, GitLabDataSourceConfig, ScanScope, ScanStatus,
};
use labgate_testkit::sim::{ALICE_TOKEN, standard_seed};
use labgate_testkit::{HostTable, RecordingProxy, TestEnv};

const LEAKED: &str = "glpat-Zq3vN8xPm2Lk7Rt4Wy9B";

fn seed() -> gitlab_sim::Seed {
    standard_seed()
        .file("acme/website", "deploy.env", &format!("GITLAB_TOKEN={LEAKED}\n"))
        .build()
}

async fn alice(env: &TestEnv, instance_url: &str) -> String {
    let request = CreateConnectionRequest {
        name: "alice".to_owned(),
        description: None,
        method: "access-token".to_owned(),
        credentials: Some(
            AccessTokenCredentials {
                access_token: ALICE_TOKEN.to_owned(),
                instance_url: Some(instance_url.to_owned()),
                access_token_type: "personal".to_owned(),
            }
            .into(),
        ),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: Some(false),
        rotate_before_days: None,
    };
    env.services
        .connections
        .create(&env.admin, request)
        .await
        .unwrap()
        .id
}

async fn acme_source(services: &labgate_core::Services, env: &TestEnv, connection: &str) -> String {
    services
        .secret_scanning
        .create(
            &env.admin,
            CreateDataSourceRequest {
                name: "acme".to_owned(),
                description: None,
                connection_id: connection.to_owned(),
                config: GitLabDataSourceConfig {
                    scope: ScanScope::Group,
                    project_id: None,
                    group_id: Some("acme".to_owned()),
                    include_projects: None,
                },
                is_auto_scan_enabled: Some(false),
            },
        )
        .await
        .unwrap()
        .id
}

fn mirrors(env: &TestEnv) -> usize {
    std::fs::read_dir(env.data_dir().join("scan-cache"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().extension().is_some_and(|e| e == "git"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_fetches_from_the_checked_address_of_a_name_only_labgate_resolves() {
    // `gitlab.test` exists only in labgate's resolver: git reaches it through the pin or not at all.
    let table = HostTable::default().with("gitlab.test", "127.0.0.1");
    let gitlab = NetworkPolicy::parse("gitlab.test")
        .unwrap()
        .with_resolver(table.resolver());
    let env = TestEnv::builder()
        .sim(seed())
        .network(NetworkSettings::new(gitlab, NetworkPolicy::deny_internal()))
        .build()
        .await;
    let instance = env.sim().url().replace("127.0.0.1", "gitlab.test");
    let connection = alice(&env, &instance).await;
    let services = scanning_services(&env);
    let source = acme_source(&services, &env, &connection).await;
    let scan = services
        .secret_scanning
        .trigger_full_scan(&env.admin, &source)
        .await
        .unwrap();
    worker_with(&services, "w1").run_once().await.unwrap().unwrap();
    let scans = services
        .secret_scanning
        .scans(&env.admin, &source)
        .await
        .unwrap()
        .scans;
    let done = scans.iter().find(|s| s.id == scan.id).unwrap();
    assert_eq!(done.status, ScanStatus::Completed, "{:?}", done.status_message);
    let findings = services
        .secret_scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].link.starts_with(&instance), "{}", findings[0].link);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_from_an_instance_name_that_resolves_to_an_internal_address_is_refused() {
    let table = HostTable::default().with("gitlab.internal", "10.44.0.9");
    let gitlab = NetworkPolicy::parse("127.0.0.1")
        .unwrap()
        .with_resolver(table.resolver());
    let env = TestEnv::builder()
        .sim(seed())
        .network(NetworkSettings::new(gitlab, NetworkPolicy::deny_internal()))
        .build()
        .await;
    let connection = alice(&env, env.sim().url()).await;
    let services = scanning_services(&env);
    let source = acme_source(&services, &env, &connection).await;
    let resource = services
        .secret_scanning
        .resources(&env.admin, &source)
        .await
        .unwrap()
        .resources
        .into_iter()
        .find(|r| r.name == "acme/website")
        .unwrap();
    // The instance moves to a name that now resolves inside the network.
    let mut row = env
        .store
        .connection(&env.admin.tenant_id, &connection)
        .await
        .unwrap();
    let version = row.version;
    row.instance_url = "https://gitlab.internal".to_owned();
    env.store.save_connection(&row, version).await.unwrap().unwrap();

    let git_requests = env.sim().requests().matching("GET", "info/refs");
    let scan = services
        .secret_scanning
        .trigger_resource_scan(&env.admin, &source, &resource.id)
        .await
        .unwrap();
    worker_with(&services, "w1").run_once().await.unwrap().unwrap();
    let scans = services
        .secret_scanning
        .scans(&env.admin, &source)
        .await
        .unwrap()
        .scans;
    let refused = scans.iter().find(|s| s.id == scan.id).unwrap();
    assert_eq!(refused.status, ScanStatus::Failed, "a refusal is not retried");
    let message = refused.status_message.clone().unwrap_or_default();
    assert!(
        message.contains("refused to connect to gitlab.internal: the name resolves to an internal address")
            && message.contains("LABGATE_ALLOW_INTERNAL_HOSTS"),
        "{message}"
    );
    assert!(!message.contains("10.44.0.9"), "{message}");
    assert_eq!(mirrors(&env), 0, "git never ran");
    assert_eq!(env.sim().requests().matching("GET", "info/refs"), git_requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_goes_through_the_proxy_registered_for_the_instance() {
    let env = TestEnv::builder().sim(seed()).build().await;
    let connection = alice(&env, env.sim().url()).await;
    let services = scanning_services(&env);
    let source = acme_source(&services, &env, &connection).await;
    let resource = services
        .secret_scanning
        .resources(&env.admin, &source)
        .await
        .unwrap()
        .resources
        .into_iter()
        .find(|r| r.name == "acme/website")
        .unwrap();
    let proxy = RecordingProxy::start().await;
    env.services
        .instances
        .create(
            &env.admin,
            labgate_proto::instances::CreateGitLabInstanceRequest {
                url: env.sim().url().to_owned(),
                kind: None,
                oauth_client_id: None,
                oauth_client_secret: None,
                ca_bundle: None,
                proxy_url: Some(proxy.url()),
            },
        )
        .await
        .unwrap();
    let git_requests = env.sim().requests().matching("GET", "info/refs");
    services
        .secret_scanning
        .trigger_resource_scan(&env.admin, &source, &resource.id)
        .await
        .unwrap();
    worker_with(&services, "w1").run_once().await.unwrap().unwrap();
    // The recording proxy reaches nothing: git asked it, and never the instance directly.
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("GET ") && line.contains("/acme/website.git/info/refs")),
        "{seen:?}"
    );
    assert_eq!(env.sim().requests().matching("GET", "info/refs"), git_requests);
}
