//! Periodic full scans of data sources with automatic scans on, driven by the recurring sweep
//! and the controllable clock.

use labgate_core::jobs::{JobKind, JobSpec};
use labgate_core::scanning::ScanSettings;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, GitLabDataSourceConfig, ScanKind, ScanScope, ScanStatus, ScanView,
    UpdateDataSourceRequest,
};
use labgate_testkit::TestEnv;
use labgate_testkit::sim::{ALICE_TOKEN, standard_seed};

const HOUR_MS: i64 = 3_600_000;

fn scanning_services(env: &TestEnv) -> labgate_core::Services {
    env.services.clone().with_scan_settings(ScanSettings::new(
        env.data_dir().join("scan-cache"),
        1024 * 1024 * 1024,
        2,
    ))
}

fn worker(services: &labgate_core::Services) -> labgate_worker::Worker {
    let settings = labgate_worker::WorkerSettings {
        owner: "w1".to_owned(),
        scan_interval: std::time::Duration::from_secs(24 * 3_600),
        ..labgate_worker::WorkerSettings::default()
    };
    let handlers = labgate_worker::default_handlers(
        &settings,
        labgate_worker::delivery_client(&services.network).unwrap(),
    );
    labgate_worker::Worker::new(services.clone(), settings, handlers)
}

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
    let env = TestEnv::builder().sim(standard_seed().build()).build().await;
    let connection = env
        .services
        .connections
        .create(
            &env.admin,
            CreateConnectionRequest {
                name: "alice".to_owned(),
                description: None,
                method: "access-token".to_owned(),
                credentials: Some(
                    AccessTokenCredentials {
                        access_token: ALICE_TOKEN.to_owned(),
                        instance_url: Some(env.sim().url().to_owned()),
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
            },
        )
        .await
        .unwrap()
        .id;
    let services = scanning_services(&env);
    let auto = source(&services, &env, "auto", &connection, true).await;
    let manual = source(&services, &env, "manual", &connection, false).await;
    services
        .jobs
        .enqueue(&JobSpec::recurring(JobKind::SecretScanSchedule))
        .await
        .unwrap();
    let w = worker(&services);

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
