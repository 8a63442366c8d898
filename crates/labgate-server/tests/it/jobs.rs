use labgate_core::jobs::JobSpec;
use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn jobs_list_with_filters_pagination_and_progress() {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let mut spec = JobSpec::new(
            if n % 2 == 0 {
                "diagnostic.probe"
            } else {
                "maintenance.prune"
            },
            json!({}),
        );
        spec.tenant_id = Some(app.acme.id.clone());
        ids.push(app.services.jobs.enqueue(&spec).await.unwrap().0);
        app.clock.advance_ms(1);
    }
    let owner = "test-worker";
    let claimed = app
        .services
        .store
        .claim_job(owner, app.clock.now_ms(), 60_000)
        .await
        .unwrap()
        .unwrap();
    app.services
        .store
        .set_job_progress(
            &claimed.id,
            owner,
            3,
            Some(10),
            Some("listing"),
            app.clock.now_ms(),
        )
        .await
        .unwrap();

    let key = Some(app.admin.as_str());
    let page = app.get("/api/v1/jobs?limit=3", key).await.json();
    assert_eq!(page["totalCount"], 7);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(page["jobs"][0]["id"], ids[6].as_str());
    let rest = app.get("/api/v1/jobs?limit=3&offset=6", key).await.json();
    assert_eq!(rest["jobs"][0]["id"], ids[0].as_str());
    let probes = app.get("/api/v1/jobs?kind=diagnostic.probe", key).await.json();
    assert_eq!(probes["totalCount"], 4);
    let running = app.get("/api/v1/jobs?state=running", key).await.json();
    assert_eq!(running["totalCount"], 1);

    let one = app.get(&format!("/api/v1/jobs/{}", claimed.id), key).await;
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

use labgate_core::clock::Clock;
