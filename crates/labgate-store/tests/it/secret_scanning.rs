use labgate_store::{
    FindingFilter, FindingLocationRecord, FindingRecord, ScanDataSourceRecord, ScanResourceRecord,
    ScanRunRecord, ScanRunUpdate, Store, StoreError,
};

use crate::app_connections::record;
use crate::{fresh_store, tenant};

fn source(id: &str, tenant_id: &str, name: &str, connection: &str) -> ScanDataSourceRecord {
    ScanDataSourceRecord {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        description: None,
        connection_id: connection.to_owned(),
        config: r#"{"scope":"group","groupId":"7"}"#.to_owned(),
        is_auto_scan_enabled: 1,
        version: 1,
        created_at: 10,
        updated_at: 10,
    }
}

fn resource(id: &str, source: &str, project: i64, path: &str) -> ScanResourceRecord {
    ScanResourceRecord {
        id: id.to_owned(),
        data_source_id: source.to_owned(),
        gitlab_project_id: project,
        path: path.to_owned(),
        web_url: format!("https://gitlab.example.com/{path}"),
        default_branch: Some("main".to_owned()),
        last_scanned_at: None,
        created_at: 10,
        updated_at: 10,
    }
}

fn finding(id: &str, tenant_id: &str, hmac: &str, at: i64) -> FindingRecord {
    FindingRecord {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        rule_id: "gitlab-pat".to_owned(),
        rule_name: "GitLab personal access token".to_owned(),
        severity: "critical".to_owned(),
        value_hmac: hmac.to_owned(),
        preview: "glpat-…".to_owned(),
        fingerprint: format!("fp-{id}"),
        status: "unresolved".to_owned(),
        remarks: None,
        verification: "unknown".to_owned(),
        verified_at: None,
        first_seen_at: at,
        last_seen_at: at,
        updated_at: at,
    }
}

fn location(finding: &str, resource: &str, path: &str, commit: &str) -> FindingLocationRecord {
    FindingLocationRecord {
        finding_id: finding.to_owned(),
        resource_id: resource.to_owned(),
        file_path: path.to_owned(),
        commit_sha: commit.to_owned(),
        line: 3,
        author_name: Some("Alice".to_owned()),
        author_email: Some("alice@example.com".to_owned()),
        committed_at: Some(5),
        link: format!("https://gitlab.example.com/x/-/blob/{commit}/{path}#L3"),
        scan_run_id: None,
        first_seen_at: 20,
    }
}

async fn setup() -> (Store, labgate_testkit::TestDatabase, String) {
    let (store, db) = fresh_store().await;
    let acme = tenant(&store, "acme").await;
    store
        .insert_connection(&record("c1", &acme, "main", 10))
        .await
        .unwrap();
    (store, db, acme)
}

#[tokio::test]
async fn data_sources_are_named_uniquely_and_hold_their_connection() {
    let (store, _db, acme) = setup().await;
    let other = tenant(&store, "other").await;
    store
        .insert_connection(&record("c2", &other, "main", 10))
        .await
        .unwrap();
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_scan_data_source(&source("s2", &acme, "repos", "c1"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .insert_scan_data_source(&source("s3", &other, "repos", "c2"))
        .await
        .unwrap();
    assert_eq!(
        store
            .scan_data_source_names_of_connection(&acme, "c1")
            .await
            .unwrap(),
        vec!["repos".to_owned()]
    );
    assert!(matches!(
        store.scan_data_source(&other, "s1").await,
        Err(StoreError::NotFound)
    ));

    // Versioned update: a stale version changes nothing.
    let mut changed = source("s1", &acme, "renamed", "c1");
    changed.version = 2;
    assert!(
        store
            .update_scan_data_source(&changed, 1)
            .await
            .unwrap()
            .is_some()
    );
    changed.version = 3;
    assert!(
        store
            .update_scan_data_source(&changed, 1)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.list_scan_data_sources(&acme).await.unwrap()[0].name,
        "renamed"
    );
    assert!(store.delete_scan_data_source(&acme, "s1").await.unwrap());
    assert!(!store.delete_scan_data_source(&acme, "s1").await.unwrap());
    assert!(
        store
            .scan_data_source_names_of_connection(&acme, "c1")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn resources_follow_gitlab_project_ids_across_renames() {
    let (store, _db, acme) = setup().await;
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    store
        .upsert_scan_resource(&resource("r1", "s1", 41, "acme/api"))
        .await
        .unwrap();
    store
        .upsert_scan_resource(&resource("r2", "s1", 42, "acme/sub/web"))
        .await
        .unwrap();
    let renamed = store
        .upsert_scan_resource(&resource("r9", "s1", 41, "acme/api-v2"))
        .await
        .unwrap();
    assert_eq!(renamed.id, "r1", "the known resource is kept");
    assert_eq!(renamed.path, "acme/api-v2");
    assert_eq!(store.delete_scan_resources_except("s1", &[41]).await.unwrap(), 1);
    let left = store.list_scan_resources("s1").await.unwrap();
    assert_eq!(left.len(), 1);
    store.set_scan_resource_scanned("r1", 77).await.unwrap();
    assert_eq!(
        store.scan_resource("s1", "r1").await.unwrap().last_scanned_at,
        Some(77)
    );
}

#[tokio::test]
async fn scan_runs_record_progress() {
    let (store, _db, acme) = setup().await;
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    let run = ScanRunRecord {
        id: "run1".to_owned(),
        data_source_id: "s1".to_owned(),
        resource_id: None,
        kind: "full".to_owned(),
        status: "queued".to_owned(),
        progress_done: 0,
        progress_total: None,
        progress_phase: None,
        findings_new: 0,
        findings_total: 0,
        error: None,
        job_id: None,
        created_at: 10,
        started_at: None,
        finished_at: None,
    };
    store.insert_scan_run(&run).await.unwrap();
    store.set_scan_run_job("run1", "job1").await.unwrap();
    let updated = store
        .update_scan_run(
            "run1",
            &ScanRunUpdate {
                status: Some("scanning"),
                progress_done: Some(1),
                progress_total: Some(3),
                progress_phase: Some("fetching"),
                started_at: Some(11),
                ..ScanRunUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.status.as_str(),
            updated.progress_done,
            updated.progress_total
        ),
        ("scanning", 1, Some(3))
    );
    assert_eq!(updated.job_id.as_deref(), Some("job1"));
    let done = store
        .update_scan_run(
            "run1",
            &ScanRunUpdate {
                status: Some("completed"),
                ..ScanRunUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        done.progress_phase.as_deref(),
        Some("fetching"),
        "unset fields keep their value"
    );
    assert_eq!(store.list_scan_runs("s1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn one_value_is_one_finding_with_many_locations() {
    let (store, _db, acme) = setup().await;
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    store
        .insert_scan_data_source(&source("s2", &acme, "more", "c1"))
        .await
        .unwrap();
    store
        .upsert_scan_resource(&resource("r1", "s1", 41, "acme/api"))
        .await
        .unwrap();
    store
        .upsert_scan_resource(&resource("r2", "s2", 42, "acme/sub/web"))
        .await
        .unwrap();

    let (first, created) = store
        .upsert_finding(&finding("f1", &acme, "h1", 20))
        .await
        .unwrap();
    assert!(created);
    let (again, created) = store
        .upsert_finding(&finding("f2", &acme, "h1", 30))
        .await
        .unwrap();
    assert!(!created, "the same value under the same rule is the same finding");
    assert_eq!(again.id, first.id);
    assert_eq!((again.first_seen_at, again.last_seen_at), (20, 30));
    store
        .upsert_finding(&finding("f3", &acme, "h2", 40))
        .await
        .unwrap();

    assert!(
        store
            .insert_finding_location(&location("f1", "r1", "a.env", "c0ffee"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_finding_location(&location("f1", "r1", "a.env", "c0ffee"))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_finding_location(&location("f1", "r2", "b.env", "beef"))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_finding_location(&location("f3", "r1", "c.env", "c0ffee"))
            .await
            .unwrap()
    );

    let all = store
        .list_findings(&acme, &FindingFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let in_s2 = store
        .list_findings(
            &acme,
            &FindingFilter {
                data_source_id: Some("s2"),
                ..FindingFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        in_s2.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec!["f1"]
    );
    let in_project = store
        .list_findings(
            &acme,
            &FindingFilter {
                gitlab_project_id: Some(41),
                ..FindingFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(in_project.len(), 2);
    assert_eq!(
        store.finding_locations(&["f1".to_owned()]).await.unwrap().len(),
        2
    );

    store
        .update_finding_status(&acme, "f3", "false-positive", Some("test fixture"), 50)
        .await
        .unwrap();
    let triaged = store
        .list_findings(
            &acme,
            &FindingFilter {
                status: Some("false-positive"),
                ..FindingFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(triaged[0].remarks.as_deref(), Some("test fixture"));
    let other = tenant(&store, "other").await;
    assert!(matches!(
        store
            .update_finding_status(&other, "f3", "resolved", None, 60)
            .await,
        Err(StoreError::NotFound)
    ));

    // Deleting s1 takes its locations; f3 is left with none and goes, f1 stays (seen in s2).
    store.delete_scan_data_source(&acme, "s1").await.unwrap();
    let left = store
        .list_findings(&acme, &FindingFilter::default())
        .await
        .unwrap();
    assert_eq!(left.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec!["f1"]);
}

#[tokio::test]
async fn findings_page_with_their_total_and_locations_come_in_batches() {
    let (store, _db, acme) = setup().await;
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    store
        .upsert_scan_resource(&resource("r1", "s1", 41, "acme/api"))
        .await
        .unwrap();
    // More findings than one batch of the locations' query takes.
    let count = 501;
    let mut ids = Vec::new();
    for n in 0..count {
        let id = format!("f{n:04}");
        store
            .upsert_finding(&finding(&id, &acme, &format!("h{n}"), 100 + n))
            .await
            .unwrap();
        let file = if n == 7 {
            "src/100%_Done.env".to_owned()
        } else {
            format!("src/app{n}.env")
        };
        store
            .insert_finding_location(&location(&id, "r1", &file, "c0ffee"))
            .await
            .unwrap();
        ids.push(id);
    }
    let located = store.finding_locations(&ids).await.unwrap();
    assert_eq!(located.len(), 501, "every location, across batches");
    assert!(
        located
            .iter()
            .all(|l| l.resource_path == "acme/api" && l.data_source_id == "s1" && l.gitlab_project_id == 41)
    );

    let everything = FindingFilter::default();
    let (first, total) = store.list_findings_page(&acme, &everything, 0, 3).await.unwrap();
    assert_eq!(total, 501);
    assert_eq!(
        first.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["f0500", "f0499", "f0498"],
        "newest first"
    );
    let (last, total) = store
        .list_findings_page(&acme, &everything, 500, 3)
        .await
        .unwrap();
    assert_eq!((last.len(), total), (1, 501));
    assert_eq!(last[0].id, "f0000");
    let (beyond, total) = store
        .list_findings_page(&acme, &everything, i64::MAX as u64, 100)
        .await
        .unwrap();
    assert_eq!((beyond.len(), total), (0, 501));

    let by_path = |path: &'static str| FindingFilter {
        path_contains: Some(path),
        ..FindingFilter::default()
    };
    for (part, expected) in [
        ("100%_d", 1),
        ("%", 1),
        ("_", 1),
        ("APP12.", 1),
        ("app1", 111),
        ("nothing", 0),
    ] {
        let (_, total) = store
            .list_findings_page(&acme, &by_path(part), 0, 1)
            .await
            .unwrap();
        assert_eq!(total, expected, "{part}");
    }
    let other = tenant(&store, "other").await;
    let (theirs, total) = store
        .list_findings_page(&other, &everything, 0, 10)
        .await
        .unwrap();
    assert_eq!((theirs.len(), total), (0, 0));
}

#[tokio::test]
async fn push_events_dedupe_until_they_expire_and_the_prune_deletes_them() {
    let (store, _db, acme) = setup().await;
    store
        .insert_scan_data_source(&source("s1", &acme, "repos", "c1"))
        .await
        .unwrap();
    assert!(store.record_scan_push_event("s1", "e1", 100, 200).await.unwrap());
    assert!(
        !store.record_scan_push_event("s1", "e1", 150, 250).await.unwrap(),
        "a redelivery"
    );
    assert!(store.record_scan_push_event("s1", "e2", 150, 250).await.unwrap());
    // Past its time, the same event is taken again, and remembered anew.
    assert!(store.record_scan_push_event("s1", "e1", 201, 301).await.unwrap());
    assert!(!store.record_scan_push_event("s1", "e1", 202, 302).await.unwrap());
    // At 260 only e2 (expired at 250) goes.
    assert_eq!(store.prune_scan_push_events(260).await.unwrap(), 1);
    assert!(!store.record_scan_push_event("s1", "e1", 260, 360).await.unwrap());
    assert!(store.record_scan_push_event("s1", "e2", 260, 360).await.unwrap());
}
