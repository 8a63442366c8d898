//! The store boundary: values the domain does not know are errors naming their column, never
//! silently read as something else.

use labgate_core::CoreError;
use labgate_core::jobs::{JobKind, JobSpec, JobState};
use labgate_proto::connections::ConnectionStatus;
use labgate_store::NewJob;
use serde_json::json;

use crate::connections::with_alice;

fn internal_cause(error: CoreError) -> String {
    match error {
        CoreError::Internal(cause) => cause.to_string(),
        other => panic!("expected an internal error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_status_in_a_row_is_an_error_not_active() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    assert_eq!(conn.status, ConnectionStatus::Active);
    env.execute_sql(&format!(
        "UPDATE app_connections SET status = 'sleeping' WHERE id = '{}'",
        conn.id
    ))
    .await;
    let cause = internal_cause(conns.get(&env.admin, &conn.id).await.unwrap_err());
    assert!(cause.contains("app_connections.status"), "{cause}");
    assert!(cause.contains("sleeping"), "{cause}");
    // Listing fails the same way rather than showing the row as something it is not.
    let cause = internal_cause(conns.list(&env.admin, None, None, 0, Some(10)).await.unwrap_err());
    assert!(cause.contains("app_connections.status"), "{cause}");
}

#[tokio::test]
async fn a_flag_outside_zero_and_one_is_an_error() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    env.execute_sql(&format!(
        "UPDATE app_connections SET auto_rotate = 7 WHERE id = '{}'",
        conn.id
    ))
    .await;
    let cause = internal_cause(conns.get(&env.admin, &conn.id).await.unwrap_err());
    assert!(cause.contains("app_connections.auto_rotate"), "{cause}");
}

#[tokio::test]
async fn a_job_of_an_unknown_kind_is_failed_with_the_reason_and_the_queue_goes_on() {
    let env = labgate_testkit::TestEnv::new().await;
    let now = labgate_core::clock::Clock::now_ms(env.clock.as_ref());
    env.store
        .enqueue_job(&NewJob {
            id: &labgate_core::ids::JobId::generate(),
            tenant_id: None,
            kind: "no.such.kind",
            payload: "{}",
            run_at: now - 1,
            max_attempts: 5,
            dedupe_key: None,
            now,
        })
        .await
        .unwrap();
    let (good, _) = env
        .services
        .jobs
        .enqueue(&JobSpec::new(JobKind::DiagnosticProbe, json!({})))
        .await
        .unwrap();
    let jobs = &env.services.jobs;
    let claimed = jobs
        .claim("w", time::Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, good, "the unreadable job is skipped");
    let (rows, _) = env
        .store
        .list_jobs(&labgate_store::JobFilter {
            kind: Some("no.such.kind"),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows[0].state, JobState::Failed.as_str());
    let error = rows[0].last_error.as_deref().unwrap();
    assert!(
        error.contains("jobs.kind") && error.contains("no.such.kind"),
        "{error}"
    );
}
