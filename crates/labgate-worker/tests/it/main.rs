//! Worker tests on a fresh database of the run's backend (`LABGATE_TEST_BACKEND`).

use std::time::Duration;

use labgate_core::clock::Clock;
use labgate_core::jobs::{JobKind, JobSpec, JobState};
use labgate_testkit::{TestEnv, wait_until};
use labgate_worker::{RunOutcome, Worker, WorkerSettings, default_handlers};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Webhook receivers in these tests listen on loopback.
async fn env() -> TestEnv {
    TestEnv::builder().loopback().build().await
}

mod access_sync;
mod connections;
mod leaks;
mod scan_push;
mod scan_transport;
mod scheduled_scans;
mod secret_scanning;
mod secret_syncs;
mod webhooks;

fn worker(env: &TestEnv, owner: &str) -> Worker {
    let settings = WorkerSettings {
        owner: owner.to_owned(),
        poll_interval: Duration::from_millis(10),
        heartbeat: Duration::from_millis(50),
        ..WorkerSettings::default()
    };
    let handlers = default_handlers(
        &settings,
        labgate_worker::delivery_client(&env.services.network).unwrap(),
    );
    Worker::new(env.services.clone(), settings, handlers)
}

fn probe(payload: serde_json::Value) -> JobSpec {
    JobSpec::new(JobKind::DiagnosticProbe, payload)
}

#[tokio::test]
async fn a_job_runs_and_reports_progress() {
    let env = env().await;
    let (id, _) = env
        .services
        .jobs
        .enqueue(&probe(json!({"millis": 0, "steps": 3})))
        .await
        .unwrap();
    let outcome = worker(&env, "w1").run_once().await.unwrap();
    assert_eq!(outcome, Some(RunOutcome::Succeeded { id: id.to_string() }));
    let job = env.services.jobs.find(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!((job.progress.done, job.progress.total), (3, Some(3)));
    assert_eq!(worker(&env, "w1").run_once().await.unwrap(), None);
}

#[tokio::test]
async fn failures_back_off_then_fail_for_good() {
    let env = env().await;
    // A worker built without a handler for a kind fails such jobs for good, with the reason.
    let settings = WorkerSettings {
        owner: "w".to_owned(),
        ..WorkerSettings::default()
    };
    let (unhandled, _) = env
        .services
        .jobs
        .enqueue(&JobSpec::new(JobKind::ConnectionsHealth, json!({})))
        .await
        .unwrap();
    let bare = Worker::new(env.services.clone(), settings, Vec::new());
    let outcome = bare.run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, RunOutcome::Failed { ref id, ref error } if *id == unhandled.to_string() && error.contains("connections.health")),
        "{outcome:?}"
    );

    let mut bad = probe(json!({"millis": 999_999_999}));
    bad.max_attempts = 3;
    let (bad_id, _) = env.services.jobs.enqueue(&bad).await.unwrap();
    let outcome = worker(&env, "w").run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, RunOutcome::Failed { .. }),
        "invalid payloads are not retried: {outcome:?}"
    );
    let job = env.services.jobs.find(&bad_id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 1));
    assert!(job.last_error.unwrap().contains("10 minutes"));
}

#[tokio::test]
async fn the_prune_job_applies_retention_and_recurs_once() {
    let env = env().await;
    let w = worker(&env, "w");
    let (old, _) = env.services.jobs.enqueue(&probe(json!({}))).await.unwrap();
    w.run_once().await.unwrap();
    // Eight days later the finished probe is past the default seven-day retention.
    env.clock.advance_ms(8 * 24 * 3_600 * 1_000);
    w.schedule_recurring().await.unwrap();
    w.schedule_recurring().await.unwrap();
    // The prune job, the webhook sender, the proactive refresh and the sweeps of scheduled scans
    // and access syncs are due; all five run.
    for _ in 0..5 {
        let outcome = w.run_once().await.unwrap().unwrap();
        assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    }
    assert!(env.services.jobs.find(&old).await.unwrap().is_none());
    // Exactly one next run is queued, an interval from now.
    let queued: Vec<_> = env
        .services
        .jobs
        .of_kind(JobKind::MaintenancePrune, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.state == JobState::Queued)
        .collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].run_at, env.clock.now() + time::Duration::hours(1));
    assert_eq!(w.run_once().await.unwrap(), None);
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish() {
    let env = env().await;
    let (id, _) = env
        .services
        .jobs
        .enqueue(&probe(json!({"millis": 300, "steps": 3})))
        .await
        .unwrap();
    let w = worker(&env, "w");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let w = w.clone();
        let shutdown = shutdown.clone();
        async move { w.run(shutdown).await }
    });
    // Wait until the job is claimed, then ask the worker to stop.
    wait_until(Duration::from_secs(10), "the probe is claimed", || async {
        env.services.jobs.find(&id).await.unwrap().unwrap().state == JobState::Running
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();
    let job = env.services.jobs.find(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
}

#[tokio::test]
async fn concurrent_workers_run_each_job_once() {
    let env = env().await;
    for _ in 0..100 {
        env.services.jobs.enqueue(&probe(json!({}))).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    for n in 0..3 {
        let w = worker(&env, &format!("w{n}"));
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move { w.run(shutdown).await }));
    }
    let succeeded = || async {
        let jobs = env
            .services
            .jobs
            .of_kind(JobKind::DiagnosticProbe, 200)
            .await
            .unwrap();
        jobs.iter().filter(|job| job.state == JobState::Succeeded).count()
    };
    wait_until(Duration::from_secs(60), "100 probes succeed", || async {
        succeeded().await == 100
    })
    .await;
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
    let jobs = env
        .services
        .jobs
        .of_kind(JobKind::DiagnosticProbe, 200)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 100);
    assert!(
        jobs.iter()
            .all(|job| job.state == JobState::Succeeded && job.attempts == 1),
        "{jobs:#?}"
    );
}
