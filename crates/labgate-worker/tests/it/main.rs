//! Worker tests on a fresh database of the run's backend (`LABGATE_TEST_BACKEND`).

use std::sync::Arc;
use std::time::Duration;

use labgate_core::Services;
use labgate_core::clock::{Clock, ManualClock};
use labgate_core::jobs::JobSpec;
use labgate_core::vault::{KeySettings, Vault};
use labgate_proto::jobs::JobState;
use labgate_store::{Store, StoreOptions};
use labgate_testkit::TestDatabase;
use labgate_worker::{PROBE_KIND, PRUNE_KIND, RunOutcome, Worker, WorkerSettings, default_handlers};
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Env {
    services: Services,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

async fn env() -> Env {
    let db = TestDatabase::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(db.url(), &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let settings = KeySettings {
        data_dir: dir.path().to_owned(),
        ..KeySettings::default()
    };
    let vault = Arc::new(Vault::load(store.clone(), settings).await.unwrap());
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    // Webhook receivers in these tests listen on loopback.
    let policy = labgate_core::NetworkPolicy::parse("127.0.0.1").unwrap();
    Env {
        services: Services::with_network_policy(store, vault, clock.clone(), policy),
        clock,
        _dir: dir,
        _db: db,
    }
}

mod connections;
mod webhooks;

fn worker(env: &Env, owner: &str) -> Worker {
    let settings = WorkerSettings {
        owner: owner.to_owned(),
        poll_interval: Duration::from_millis(10),
        heartbeat: Duration::from_millis(50),
        ..WorkerSettings::default()
    };
    let handlers = default_handlers(
        &settings,
        labgate_worker::delivery_client(&env.services.network_policy).unwrap(),
    );
    Worker::new(env.services.clone(), settings, handlers)
}

fn probe(payload: serde_json::Value) -> JobSpec {
    JobSpec::new(PROBE_KIND, payload)
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
    assert_eq!(outcome, Some(RunOutcome::Succeeded { id: id.clone() }));
    let job = env.services.jobs.get_any(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!((job.progress.done, job.progress.total), (3, Some(3)));
    assert_eq!(worker(&env, "w1").run_once().await.unwrap(), None);
}

#[tokio::test]
async fn failures_back_off_then_fail_for_good() {
    let env = env().await;
    let mut spec = JobSpec::new("no.such.kind", json!({}));
    spec.max_attempts = 2;
    let (unknown, _) = env.services.jobs.enqueue(&spec).await.unwrap();
    let outcome = worker(&env, "w").run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, RunOutcome::Failed { ref id, .. } if *id == unknown),
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
    let job = env.services.jobs.get_any(&bad_id).await.unwrap().unwrap();
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
    // The prune job and the webhook sender are due; both run.
    for _ in 0..2 {
        let outcome = w.run_once().await.unwrap().unwrap();
        assert!(matches!(outcome, RunOutcome::Succeeded { .. }), "{outcome:?}");
    }
    assert!(env.services.jobs.get_any(&old).await.unwrap().is_none());
    // Exactly one next run is queued, an interval from now.
    let queued = env
        .services
        .store
        .list_jobs(&labgate_store::JobFilter {
            kind: Some(PRUNE_KIND),
            state: Some("queued"),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.1, 1);
    assert_eq!(queued.0[0].run_at, env.clock.now_ms() + 3_600_000);
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
    for _ in 0..200 {
        if env.services.jobs.get_any(&id).await.unwrap().unwrap().state == JobState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    let job = env.services.jobs.get_any(&id).await.unwrap().unwrap();
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
    let filter = labgate_store::JobFilter {
        state: Some("succeeded"),
        limit: 1,
        ..Default::default()
    };
    for _ in 0..1_000 {
        if env.services.store.list_jobs(&filter).await.unwrap().1 == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
    let all = labgate_store::JobFilter {
        limit: 100,
        ..Default::default()
    };
    let (jobs, total) = env.services.store.list_jobs(&all).await.unwrap();
    assert_eq!(total, 100);
    assert!(
        jobs.iter()
            .all(|job| job.state == "succeeded" && job.attempts == 1),
        "{jobs:#?}"
    );
}
