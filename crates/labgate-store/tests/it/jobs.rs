use std::collections::HashSet;

use labgate_store::{JobFilter, NewJob, Store};

fn job<'a>(id: &'a str, run_at: i64, dedupe: Option<&'a str>) -> NewJob<'a> {
    NewJob {
        id,
        tenant_id: None,
        kind: "test.kind",
        payload: "{}",
        run_at,
        max_attempts: 3,
        dedupe_key: dedupe,
        now: 0,
    }
}

#[tokio::test]
async fn claims_respect_run_at_and_order() {
    let (store, _db) = crate::fresh_store().await;
    store.enqueue_job(&job("late", 500, None)).await.unwrap();
    store.enqueue_job(&job("early", 100, None)).await.unwrap();
    assert!(store.claim_job("w1", 50, 1_000).await.unwrap().is_none());
    let first = store.claim_job("w1", 600, 1_000).await.unwrap().unwrap();
    assert_eq!(
        (first.id.as_str(), first.attempts, first.state.as_str()),
        ("early", 1, "running")
    );
    assert_eq!(first.lease_expires_at, Some(1_600));
    let second = store.claim_job("w1", 600, 1_000).await.unwrap().unwrap();
    assert_eq!(second.id, "late");
    assert!(store.claim_job("w1", 600, 1_000).await.unwrap().is_none());
}

#[tokio::test]
async fn expired_leases_are_retaken_and_the_old_owner_loses() {
    let (store, _db) = crate::fresh_store().await;
    store.enqueue_job(&job("j", 0, None)).await.unwrap();
    store.claim_job("dead-worker", 10, 100).await.unwrap().unwrap();
    // Before the lease expires nobody else can take it.
    assert!(store.claim_job("w2", 100, 100).await.unwrap().is_none());
    let retaken = store.claim_job("w2", 111, 100).await.unwrap().unwrap();
    assert_eq!(
        (retaken.lease_owner.as_deref(), retaken.attempts),
        (Some("w2"), 2)
    );
    assert!(!store.renew_job_lease("j", "dead-worker", 120, 100).await.unwrap());
    assert!(!store.complete_job("j", "dead-worker", 120).await.unwrap());
    assert!(store.renew_job_lease("j", "w2", 120, 100).await.unwrap());
    assert!(
        store
            .set_job_progress("j", "w2", 5, Some(10), Some("listing"), 130)
            .await
            .unwrap()
    );
    assert!(store.complete_job("j", "w2", 140).await.unwrap());
    let done = store.job(None, "j").await.unwrap().unwrap();
    assert_eq!(done.state, "succeeded");
    assert_eq!((done.progress_done, done.progress_total), (5, Some(10)));
    assert_eq!(done.finished_at, Some(140));
}

#[tokio::test]
async fn a_held_job_is_claimed_only_once_its_lease_lapses() {
    let (store, _db) = crate::fresh_store().await;
    store
        .insert_held_job(&job("held", 10, None), "process-a", 110)
        .await
        .unwrap();
    let held = store.job(None, "held").await.unwrap().unwrap();
    assert_eq!(
        (held.state.as_str(), held.attempts, held.lease_owner.as_deref()),
        ("running", 1, Some("process-a"))
    );
    assert!(
        store.claim_job("w1", 100, 100).await.unwrap().is_none(),
        "a running job under a live lease is not due"
    );
    assert!(
        store
            .renew_job_lease("held", "process-a", 100, 100)
            .await
            .unwrap()
    );
    assert!(store.claim_job("w1", 150, 100).await.unwrap().is_none());
    // Process A stops renewing: once the lease lapses a worker takes the job over.
    let taken = store.claim_job("w1", 201, 100).await.unwrap().unwrap();
    assert_eq!((taken.id.as_str(), taken.attempts), ("held", 2));
    assert!(!store.complete_job("held", "process-a", 210).await.unwrap());
}

#[tokio::test]
async fn failures_requeue_or_finish() {
    let (store, _db) = crate::fresh_store().await;
    store.enqueue_job(&job("j", 0, None)).await.unwrap();
    store.claim_job("w", 1, 100).await.unwrap().unwrap();
    assert!(store.fail_job("j", "w", "boom", Some(500), 2).await.unwrap());
    let queued = store.job(None, "j").await.unwrap().unwrap();
    assert_eq!((queued.state.as_str(), queued.run_at), ("queued", 500));
    assert_eq!(queued.last_error.as_deref(), Some("boom"));
    assert!(store.claim_job("w", 499, 100).await.unwrap().is_none());
    store.claim_job("w", 500, 100).await.unwrap().unwrap();
    assert!(store.fail_job("j", "w", "boom again", None, 501).await.unwrap());
    let failed = store.job(None, "j").await.unwrap().unwrap();
    assert_eq!((failed.state.as_str(), failed.attempts), ("failed", 2));
    assert!(store.claim_job("w", 10_000, 100).await.unwrap().is_none());
}

#[tokio::test]
async fn dedupe_keys_hold_one_live_job() {
    let (store, _db) = crate::fresh_store().await;
    let (first, created) = store.enqueue_job(&job("a", 0, Some("health"))).await.unwrap();
    assert!(created);
    let (again, created) = store.enqueue_job(&job("b", 0, Some("health"))).await.unwrap();
    assert_eq!((again.as_str(), created), (first.as_str(), false));
    store.claim_job("w", 1, 100).await.unwrap().unwrap();
    // Still live while running.
    assert!(!store.enqueue_job(&job("c", 0, Some("health"))).await.unwrap().1);
    store.complete_job("a", "w", 2).await.unwrap();
    let (next, created) = store.enqueue_job(&job("d", 0, Some("health"))).await.unwrap();
    assert_eq!((next.as_str(), created), ("d", true));
}

#[tokio::test]
async fn listing_filters_by_tenant_state_and_kind() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    for n in 0..5 {
        let id = format!("t{n}");
        let mut new = job(&id, 0, None);
        new.tenant_id = Some(&acme);
        new.now = n;
        store.enqueue_job(&new).await.unwrap();
    }
    store.enqueue_job(&job("system", 0, None)).await.unwrap();
    let filter = JobFilter {
        tenant_id: Some(&acme),
        limit: 2,
        ..JobFilter::default()
    };
    let (page, total) = store.list_jobs(&filter).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        page.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["t4", "t3"]
    );
    let running = JobFilter {
        state: Some("running"),
        limit: 10,
        ..JobFilter::default()
    };
    assert_eq!(store.list_jobs(&running).await.unwrap().1, 0);
    let by_kind = JobFilter {
        kind: Some("test.kind"),
        limit: 10,
        ..JobFilter::default()
    };
    assert_eq!(store.list_jobs(&by_kind).await.unwrap().1, 6);
    assert!(store.job(Some(&acme), "system").await.unwrap().is_none());
    assert!(store.job(Some(&acme), "t1").await.unwrap().is_some());
}

#[tokio::test]
async fn prune_removes_only_old_finished_jobs() {
    let (store, _db) = crate::fresh_store().await;
    for (id, run_at) in [("old", 0), ("new", 1), ("open", 2)] {
        store.enqueue_job(&job(id, run_at, None)).await.unwrap();
    }
    let old = store.claim_job("w", 1, 10_000).await.unwrap().unwrap();
    assert_eq!(old.id, "old");
    store.complete_job("old", "w", 100).await.unwrap();
    let new = store.claim_job("w", 1, 10_000).await.unwrap().unwrap();
    assert_eq!(new.id, "new");
    store.complete_job("new", "w", 9_000).await.unwrap();
    assert_eq!(store.prune_finished_jobs(1_000).await.unwrap(), 1);
    let left: HashSet<String> = store
        .list_jobs(&JobFilter {
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(left, HashSet::from(["new".to_owned(), "open".to_owned()]));
    let counts = store.count_jobs_by_state().await.unwrap();
    assert!(
        counts.iter().any(|c| c.state == "queued" && c.count == 1),
        "{counts:?}"
    );
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let (store, _db) = crate::fresh_store().await;
    for n in 0..60 {
        store
            .enqueue_job(&job(&format!("j{n:03}"), 0, None))
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let store: Store = store.clone();
        workers.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut mine = Vec::new();
            while let Some(job) = store.claim_job(&owner, 1, 60_000).await.unwrap() {
                store.complete_job(&job.id, &owner, 2).await.unwrap();
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 60);
}
