use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use labgate_core::Services;
use labgate_core::clock::SystemClock;
use labgate_core::jobs::{JobKind, JobSpec, JobState};
use labgate_core::vault::{KeySettings, Vault};
use labgate_store::{Store, StoreOptions};
use labgate_testkit::wait_until;
use serde_json::json;

use crate::Site;

pub async fn services(site: &Site) -> Services {
    // The first `labgate` command creates the schema and root.key; the test then queues jobs
    // through the same database.
    assert!(site.run(&["migrate"]).status.success());
    let url = match site.database.backend() {
        labgate_testkit::TestBackend::Postgres => site.database.url().to_owned(),
        labgate_testkit::TestBackend::Sqlite => {
            format!("sqlite://{}", site.data_dir().join("labgate.db").display())
        }
    };
    let store = Store::connect(&url, &StoreOptions::default()).await.unwrap();
    let keys = KeySettings {
        data_dir: site.data_dir(),
        ..KeySettings::default()
    };
    let vault = Arc::new(Vault::load(store.clone(), keys).await.unwrap());
    Services::new(store, vault, Arc::new(SystemClock))
}

fn worker(site: &Site, lease_secs: &str) -> Child {
    site.command(&["worker"])
        .env("LABGATE_JOB_LEASE_SECS", lease_secs)
        .env("LABGATE_WORKER_CONCURRENCY", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_for(services: &Services, state: JobState, count: usize, limit: Duration) {
    wait_until(
        limit,
        &format!("{count} probes are {}", state.as_str()),
        || async {
            let probes = services
                .jobs
                .of_kind(JobKind::DiagnosticProbe, 2_000)
                .await
                .unwrap();
            probes.iter().filter(|job| job.state == state).count() >= count
        },
    )
    .await;
}

#[tokio::test]
async fn two_worker_processes_run_a_thousand_jobs_exactly_once() {
    let site = Site::new().await;
    let services = services(&site).await;
    for _ in 0..1_000 {
        services
            .jobs
            .enqueue(&JobSpec::new(JobKind::DiagnosticProbe, json!({"millis": 10})))
            .await
            .unwrap();
    }
    let mut workers = [worker(&site, "30"), worker(&site, "30")];
    wait_for(&services, JobState::Succeeded, 1_000, Duration::from_secs(120)).await;
    for child in &mut workers {
        crate::terminate(child);
        assert!(crate::wait_timeout(child, Duration::from_secs(30)).success());
    }
    let jobs = services
        .jobs
        .of_kind(JobKind::DiagnosticProbe, 2_000)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1_000);
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for job in &jobs {
        assert_eq!(
            (job.state, job.attempts),
            (JobState::Succeeded, 1),
            "job {} ran more than once",
            job.id
        );
        *per_worker.entry(job.lease_owner.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(per_worker.len(), 2, "both workers took jobs: {per_worker:?}");
}

#[tokio::test]
async fn a_killed_workers_job_is_finished_by_another_after_its_lease() {
    let site = Site::new().await;
    let services = services(&site).await;
    let (id, _) = services
        .jobs
        .enqueue(&JobSpec::new(
            JobKind::DiagnosticProbe,
            json!({"millis": 3_000, "steps": 30}),
        ))
        .await
        .unwrap();
    let mut first = worker(&site, "2");
    wait_for(&services, JobState::Running, 1, Duration::from_secs(60)).await;
    let claimed = services.jobs.find(&id).await.unwrap().unwrap();
    let first_owner = claimed.lease_owner.clone().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = worker(&site, "2");
    wait_for(&services, JobState::Succeeded, 1, Duration::from_secs(60)).await;
    crate::terminate(&second);
    crate::wait_timeout(&mut second, Duration::from_secs(30));
    let job = services.jobs.find(&id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    assert_ne!(job.lease_owner.unwrap(), first_owner);
    assert_eq!(job.progress.done, 30);
}
