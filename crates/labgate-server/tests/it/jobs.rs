use labgate_core::jobs::{JobKind, JobSpec, Progress};
use labgate_testkit::TestEnv;
use serde_json::json;

#[tokio::test]
async fn jobs_list_with_filters_pagination_and_progress() {
    let env = TestEnv::new().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let mut spec = JobSpec::new(
            if n % 2 == 0 {
                JobKind::DiagnosticProbe
            } else {
                JobKind::MaintenancePrune
            },
            json!({}),
        );
        spec.tenant_id = Some(env.tenant.id.clone());
        ids.push(env.services.jobs.enqueue(&spec).await.unwrap().0);
        env.clock.advance_ms(1);
    }
    let owner = "test-worker";
    let claimed = env
        .services
        .jobs
        .claim(owner, time::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    let progress = Progress {
        done: 3,
        total: Some(10),
        phase: Some("listing".to_owned()),
    };
    assert!(
        env.services
            .jobs
            .progress(&claimed.id, owner, &progress)
            .await
            .unwrap()
    );

    let key = Some(env.admin_key.as_str());
    let page = env.get("/api/v1/jobs?limit=3", key).await.json();
    assert_eq!(page["totalCount"], 7);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(page["jobs"][0]["id"], ids[6].as_str());
    let rest = env.get("/api/v1/jobs?limit=3&offset=6", key).await.json();
    assert_eq!(rest["jobs"][0]["id"], ids[0].as_str());
    let probes = env.get("/api/v1/jobs?kind=diagnostic.probe", key).await.json();
    assert_eq!(probes["totalCount"], 4);
    let running = env.get("/api/v1/jobs?state=running", key).await.json();
    assert_eq!(running["totalCount"], 1);

    let one = env.get(&format!("/api/v1/jobs/{}", claimed.id), key).await;
    assert_eq!(one.status, 200);
    let job = &one.json()["job"];
    assert_eq!(job["state"], "running");
    assert_eq!(
        job["progress"],
        json!({"done": 3, "total": 10, "phase": "listing"})
    );
    assert_eq!(job["attempts"], 1);
    assert!(job["runAt"].as_str().unwrap().ends_with('Z'));
}
