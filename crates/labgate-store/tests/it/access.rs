use labgate_store::{
    AccessAccountRecord, AccessGrantTally, AccessGrantTotals, AccessGroupRecord, AccessMembershipRecord,
    AccessProjectRecord, AccessShareRecord, AccessSnapshot, AccessSourceRecord, AccessSyncRunRecord,
    AccessSyncRunUpdate, Store, StoreError,
};

use crate::app_connections::record;
use crate::{fresh_store, tenant};

fn source(id: &str, tenant_id: &str, name: &str, connection: &str) -> AccessSourceRecord {
    AccessSourceRecord {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        connection_id: connection.to_owned(),
        scope_kind: "group".to_owned(),
        scope_full_path: Some("acme".to_owned()),
        status: "new".to_owned(),
        last_run_id: None,
        version: 1,
        created_at: 10,
        updated_at: 10,
    }
}

fn run(id: &str, source: &str, status: &str, created_at: i64) -> AccessSyncRunRecord {
    AccessSyncRunRecord {
        id: id.to_owned(),
        source_id: source.to_owned(),
        status: status.to_owned(),
        progress_phase: None,
        progress_done: 0,
        progress_total: None,
        request_count: 0,
        error: None,
        job_id: None,
        created_at,
        started_at: None,
        finished_at: None,
        kind: "full".into(),
        targets: None,
    }
}

fn account(id: i64, username: &str, email: Option<&str>) -> AccessAccountRecord {
    AccessAccountRecord {
        gitlab_user_id: id,
        username: username.to_owned(),
        name: username.to_uppercase(),
        kind: "human".to_owned(),
        state: "active".to_owned(),
        is_admin: None,
        email: email.map(str::to_owned),
        identities: "[]".to_owned(),
        last_sign_in_at: Some(1_700_000_000_000),
        last_activity_on: None,
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
async fn sources_are_named_uniquely_per_tenant_and_hold_their_connection() {
    let (store, _db, acme) = setup().await;
    let other = tenant(&store, "other").await;
    store
        .insert_connection(&record("c2", &other, "main", 10))
        .await
        .unwrap();
    store
        .insert_access_source(&source("s1", &acme, "gitlab", "c1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_access_source(&source("s2", &acme, "gitlab", "c1"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .insert_access_source(&source("s3", &acme, "ghost", "c404"))
            .await,
        Err(StoreError::ForeignKey { .. })
    ));
    store
        .insert_access_source(&source("s4", &other, "gitlab", "c2"))
        .await
        .unwrap();
    assert!(matches!(
        store.access_source(&other, "s1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_connection(&acme, "c1").await,
        Err(StoreError::ForeignKey { .. })
    ));
    assert_eq!(
        store
            .access_source_names_of_connection(&acme, "c1")
            .await
            .unwrap(),
        vec!["gitlab".to_owned()]
    );
    let mut second = source("s5", &acme, "self-managed", "c1");
    second.scope_kind = "instance".to_owned();
    second.scope_full_path = None;
    second.created_at = 20;
    store.insert_access_source(&second).await.unwrap();
    let (page, total) = store.list_access_sources(&acme, 1, 10).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page, vec![second]);

    let updated = store
        .set_access_source_status("s1", "syncing", None, 30)
        .await
        .unwrap();
    assert_eq!(
        (updated.status.as_str(), updated.last_run_id.as_deref()),
        ("syncing", None)
    );
    assert!(!store.delete_access_source(&other, "s1").await.unwrap());
    assert!(store.delete_access_source(&acme, "s1").await.unwrap());
    assert!(!store.delete_access_source(&acme, "s1").await.unwrap());
}

#[tokio::test]
async fn runs_record_progress_and_keep_an_ordered_log() {
    let (store, _db, acme) = setup().await;
    let other = tenant(&store, "other").await;
    store
        .insert_access_source(&source("s1", &acme, "gitlab", "c1"))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r1", "s1", "queued", 100))
        .await
        .unwrap();
    let syncing = store
        .update_access_sync_run(
            "r1",
            &AccessSyncRunUpdate {
                status: Some("syncing"),
                progress_phase: Some("members"),
                progress_done: Some(3),
                progress_total: Some(9),
                request_count: Some(4),
                started_at: Some(110),
                ..AccessSyncRunUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(syncing.status, "syncing");
    assert_eq!((syncing.progress_done, syncing.progress_total), (3, Some(9)));
    let kept = store
        .update_access_sync_run(
            "r1",
            &AccessSyncRunUpdate {
                progress_done: Some(9),
                ..AccessSyncRunUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        kept.progress_phase.as_deref(),
        Some("members"),
        "absent fields keep their value"
    );
    assert!(matches!(
        store
            .update_access_sync_run("nope", &AccessSyncRunUpdate::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.access_sync_run(&acme, "r1").await.unwrap().progress_done, 9);
    assert!(matches!(
        store.access_sync_run(&other, "r1").await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store
            .append_access_sync_log("r1", 111, "info", "listing groups")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .append_access_sync_log("r1", 112, "warn", "throttled")
            .await
            .unwrap(),
        2
    );
    let log = store.access_sync_log("r1").await.unwrap();
    assert_eq!(
        log.iter()
            .map(|l| (l.seq, l.message.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "listing groups"), (2, "throttled")]
    );

    store
        .insert_access_sync_run(&run("r0", "s1", "succeeded", 50))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r00", "s1", "failed", 60))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r2", "s1", "succeeded", 200))
        .await
        .unwrap();
    let base = store.previous_succeeded_access_sync_run("s1", 100).await.unwrap();
    assert_eq!(base.map(|r| r.id), Some("r0".to_owned()));
    assert!(
        store
            .previous_succeeded_access_sync_run("s1", 50)
            .await
            .unwrap()
            .is_none()
    );
    let runs = store.list_access_sync_runs("s1").await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["r2", "r1", "r00", "r0"]
    );
    let done = store
        .set_access_source_status("s1", "connected", Some("r2"), 210)
        .await
        .unwrap();
    assert_eq!(done.last_run_id.as_deref(), Some("r2"));
}

fn snapshot() -> AccessSnapshot {
    AccessSnapshot {
        accounts: vec![
            account(7, "alice", Some("alice@example.com")),
            account(8, "bob", None),
            account(9, "carol_x", Some("c@partners.example")),
        ],
        groups: vec![
            AccessGroupRecord {
                gitlab_group_id: 1,
                parent_id: None,
                full_path: "acme".to_owned(),
                name: "Acme".to_owned(),
                visibility: "private".to_owned(),
            },
            AccessGroupRecord {
                gitlab_group_id: 2,
                parent_id: Some(1),
                full_path: "acme/platform".to_owned(),
                name: "Platform".to_owned(),
                visibility: "internal".to_owned(),
            },
        ],
        projects: vec![AccessProjectRecord {
            gitlab_project_id: 20,
            group_id: Some(2),
            full_path: "acme/platform/api".to_owned(),
            name: "API".to_owned(),
            visibility: "private".to_owned(),
        }],
        memberships: vec![
            AccessMembershipRecord {
                gitlab_user_id: 7,
                resource_kind: "group".to_owned(),
                resource_id: 1,
                access_level: 15,
                member_role_id: Some(3),
                member_role_name: Some("Auditor".to_owned()),
                expires_at: Some(1_800_000_000_000),
            },
            AccessMembershipRecord {
                gitlab_user_id: 8,
                resource_kind: "project".to_owned(),
                resource_id: 20,
                access_level: 5,
                member_role_id: None,
                member_role_name: None,
                expires_at: None,
            },
        ],
        shares: vec![AccessShareRecord {
            resource_kind: "project".to_owned(),
            resource_id: 20,
            shared_with_group_id: 3,
            access_level: 20,
            expires_at: None,
        }],
    }
}

#[tokio::test]
async fn snapshots_round_trip_and_list_with_search_and_filters() {
    let (store, _db, acme) = setup().await;
    store
        .insert_access_source(&source("s1", &acme, "gitlab", "c1"))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r1", "s1", "syncing", 100))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r2", "s1", "syncing", 200))
        .await
        .unwrap();
    let written = snapshot();
    store.write_access_snapshot("r1", &written).await.unwrap();
    assert_eq!(store.access_snapshot("r1").await.unwrap(), written);
    assert_eq!(
        store.access_snapshot("r2").await.unwrap(),
        AccessSnapshot::default()
    );
    assert_eq!(store.access_shares("r1").await.unwrap(), written.shares);

    // What grants are computed from: an account's memberships, or those on some resources.
    let of_7_and_8 = store.access_memberships_of_accounts("r1", 7, 8).await.unwrap();
    assert_eq!(of_7_and_8, written.memberships);
    assert_eq!(
        store.access_memberships_of_accounts("r1", 8, 8).await.unwrap(),
        written.memberships[1..].to_vec()
    );
    assert_eq!(
        store.access_memberships_on("r1", &[1], &[20]).await.unwrap(),
        written.memberships
    );
    assert!(
        store
            .access_memberships_on("r1", &[2], &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.access_memberships_on("r1", &[], &[20]).await.unwrap(),
        written.memberships[1..].to_vec()
    );

    // Tallies: accounts without grants are left out, running totals in account order.
    assert_eq!(store.access_grant_totals("r1").await.unwrap(), None);
    store
        .write_access_grant_tallies("r1", 1_764_633_600_000, &[(7, 3), (8, 0), (9, 1)])
        .await
        .unwrap();
    assert_eq!(
        store.access_grant_totals("r1").await.unwrap(),
        Some(AccessGrantTotals {
            computed_on: 1_764_633_600_000,
            grants: 4
        })
    );
    let tally = |user, grants, through| AccessGrantTally {
        gitlab_user_id: user,
        grants,
        grants_through: through,
    };
    assert_eq!(
        store.access_grant_tallies_from("r1", 0, 10).await.unwrap(),
        vec![tally(7, 3, 3), tally(9, 1, 4)]
    );
    assert_eq!(
        store.access_grant_tallies_from("r1", 2, 1).await.unwrap(),
        vec![tally(7, 3, 3)],
        "grant 2 is alice's third"
    );
    assert_eq!(
        store.access_grant_tallies_from("r1", 3, 10).await.unwrap(),
        vec![tally(9, 1, 4)]
    );
    assert!(
        store
            .access_grant_tallies_from("r1", 4, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.access_grant_tallies_after("r1", Some(7), 10).await.unwrap(),
        vec![tally(9, 1, 4)]
    );
    assert_eq!(
        store.access_grant_tallies_after("r1", None, 1).await.unwrap(),
        vec![tally(7, 3, 3)]
    );

    let (all, total) = store.list_access_accounts("r1", None, 0, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        all.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );
    let (found, total) = store
        .list_access_accounts("r1", Some("PARTNERS"), 0, 10)
        .await
        .unwrap();
    assert_eq!((total, found[0].username.as_str()), (1, "carol_x"));
    let (found, total) = store.list_access_accounts("r1", Some("l_"), 0, 10).await.unwrap();
    assert_eq!(total, 1, "`_` is literal, not a wildcard: {found:?}");
    let (none, total) = store.list_access_accounts("r1", Some("%"), 0, 10).await.unwrap();
    assert_eq!((none.len(), total), (0, 0));

    // A snapshot is written once: the same rows again are refused as a whole.
    assert!(matches!(
        store.write_access_snapshot("r1", &written).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.access_snapshot("r1").await.unwrap(), written);

    // A failed or repeated write starts over from nothing.
    store.clear_access_snapshot("r1").await.unwrap();
    assert_eq!(
        store.access_snapshot("r1").await.unwrap(),
        AccessSnapshot::default()
    );
    assert_eq!(store.access_grant_totals("r1").await.unwrap(), None);
    assert!(
        store
            .access_grant_tallies_after("r1", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.write_access_snapshot("r1", &written).await.unwrap();
}

#[tokio::test]
async fn large_snapshots_span_several_statements_and_go_with_their_source() {
    let (store, _db, acme) = setup().await;
    store
        .insert_access_source(&source("s1", &acme, "gitlab", "c1"))
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run("r1", "s1", "syncing", 100))
        .await
        .unwrap();
    let accounts: Vec<AccessAccountRecord> = (1..=2_501)
        .map(|id| account(id, &format!("user{id:05}"), None))
        .collect();
    let tallies: Vec<(i64, i64)> = (1..=2_501).map(|id| (id, 2)).collect();
    let big = AccessSnapshot {
        accounts,
        ..AccessSnapshot::default()
    };
    store.write_access_snapshot("r1", &big).await.unwrap();
    store.write_access_grant_tallies("r1", 0, &tallies).await.unwrap();
    let (page, total) = store.list_access_accounts("r1", None, 2_500, 10).await.unwrap();
    assert_eq!((total, page.len()), (2_501, 1));
    assert_eq!(page[0].username, "user02501");
    let last = store.access_grant_tallies_from("r1", 5_001, 10).await.unwrap();
    assert_eq!(
        last,
        vec![AccessGrantTally {
            gitlab_user_id: 2_501,
            grants: 2,
            grants_through: 5_002
        }]
    );
    store
        .append_access_sync_log("r1", 1, "info", "done")
        .await
        .unwrap();

    assert!(store.delete_access_source(&acme, "s1").await.unwrap());
    assert_eq!(
        store.access_snapshot("r1").await.unwrap(),
        AccessSnapshot::default()
    );
    assert_eq!(store.access_grant_totals("r1").await.unwrap(), None);
    assert!(
        store
            .access_grant_tallies_after("r1", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.access_sync_log("r1").await.unwrap().is_empty());
    assert!(
        store.delete_connection(&acme, "c1").await.unwrap(),
        "no source holds it any more"
    );
}
