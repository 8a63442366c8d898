//! Periodic full scans of data sources with automatic scans on, driven by the recurring sweep
//! and the controllable clock.

use super::secret_scanning::{scanning_env_services as scanning_services, token_connection, worker_with};
use labgate_core::jobs::{JobKind, JobSpec};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, GitLabDataSourceConfig, ScanKind, ScanScope, ScanStatus, ScanView,
    UpdateDataSourceRequest,
};
use labgate_testkit::TestEnv;
use labgate_testkit::sim::{ALICE_TOKEN, standard_seed};

const HOUR_MS: i64 = 3_600_000;

async fn drain(worker: &labgate_worker::Worker) {
    while let Some(outcome) = worker.run_once().await.unwrap() {
        assert!(
            matches!(outcome, labgate_worker::RunOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
    }
}

async fn source(
    services: &labgate_core::Services,
    env: &TestEnv,
    name: &str,
    connection: &str,
    auto: bool,
) -> String {
    services
        .secret_scanning
        .create(
            &env.admin,
            CreateDataSourceRequest {
                name: name.to_owned(),
                description: None,
                connection_id: connection.to_owned(),
                config: GitLabDataSourceConfig {
                    scope: ScanScope::Project,
                    project_id: Some("acme/website".to_owned()),
                    group_id: None,
                    include_projects: None,
                },
                is_auto_scan_enabled: Some(auto),
            },
        )
        .await
        .unwrap()
        .id
}

async fn scans(services: &labgate_core::Services, env: &TestEnv, source: &str) -> Vec<ScanView> {
    services
        .secret_scanning
        .scans(&env.admin, source)
        .await
        .unwrap()
        .scans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_scan_sources_get_a_full_scan_once_their_last_is_older_than_the_interval() {
    // Auto-scan installs push hooks, which name labgate's address.
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .site_url("https://labgate.example.com")
        .build()
        .await;
    let connection = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let services = scanning_services(&env);
    let auto = source(&services, &env, "auto", &connection, true).await;
    let manual = source(&services, &env, "manual", &connection, false).await;
    services
        .jobs
        .enqueue(&JobSpec::recurring(JobKind::SecretScanSchedule))
        .await
        .unwrap();
    let w = worker_with(&services, "w1");

    // The scan queued when the source was created runs; the sweep finds nothing due.
    drain(&w).await;
    assert_eq!(scans(&services, &env, &auto).await.len(), 1);
    assert!(scans(&services, &env, &manual).await.is_empty());

    // Half a day on, the sweep runs again and still finds nothing due.
    env.clock.advance_ms(12 * HOUR_MS);
    drain(&w).await;
    assert_eq!(scans(&services, &env, &auto).await.len(), 1);

    // A day after the first scan, the sweep queues a full scan of the auto-scan source only.
    env.clock.advance_ms(13 * HOUR_MS);
    drain(&w).await;
    let auto_scans = scans(&services, &env, &auto).await;
    assert_eq!(auto_scans.len(), 2, "{auto_scans:?}");
    assert!(
        auto_scans
            .iter()
            .all(|s| s.status == ScanStatus::Completed && s.kind == ScanKind::Full),
        "{auto_scans:?}"
    );
    assert!(
        scans(&services, &env, &manual).await.is_empty(),
        "manual scans only"
    );

    // A source with a scan queued gets no second one, however late its last full scan.
    env.clock.advance_ms(25 * HOUR_MS);
    services
        .secret_scanning
        .trigger_full_scan(&env.admin, &auto)
        .await
        .unwrap();
    let day = time::Duration::hours(24);
    assert_eq!(services.secret_scanning.queue_due_scans(day).await.unwrap(), 0);
    assert_eq!(scans(&services, &env, &auto).await.len(), 3);
    drain(&w).await;

    // Turned off, automatic scans stop.
    services
        .secret_scanning
        .update(
            &env.admin,
            &auto,
            UpdateDataSourceRequest {
                is_auto_scan_enabled: Some(false),
                ..UpdateDataSourceRequest::default()
            },
        )
        .await
        .unwrap();
    env.clock.advance_ms(25 * HOUR_MS);
    assert_eq!(services.secret_scanning.queue_due_scans(day).await.unwrap(), 0);
    drain(&w).await;
    assert_eq!(scans(&services, &env, &auto).await.len(), 3);
}
