use labgate_store::{
    ConnectionEventRecord, ConnectionFilter, ConnectionRecord, ConnectionUse, JournalApply, NewJournalEntry,
    OAuthStateRecord, RefreshHold, SealedItem, StoreError, VaultItemKey,
};

fn filter<'a>(tenant_id: &'a str, app: Option<&'a str>, project_id: Option<&'a str>) -> ConnectionFilter<'a> {
    ConnectionFilter {
        tenant_id,
        app,
        project_id,
        status: None,
        method: None,
        name_contains: None,
    }
}

pub fn record(id: &str, tenant_id: &str, name: &str, now: i64) -> ConnectionRecord {
    ConnectionRecord {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        description: None,
        app: "gitlab".to_owned(),
        method: "access-token".to_owned(),
        access_token_type: Some("personal".to_owned()),
        instance_url: "https://gitlab.com".to_owned(),
        project_id: None,
        credentials_hash: "abc".to_owned(),
        status: "active".to_owned(),
        status_reason: None,
        scopes: "[\"api\"]".to_owned(),
        expires_at: Some(now + 1_000),
        token_name: Some("ci".to_owned()),
        token_id: Some(7),
        gitlab_user_id: Some(3),
        gitlab_username: Some("alice".to_owned()),
        gitlab_bot: Some(0),
        resource_kind: None,
        resource_id: None,
        resource_path: None,
        access_level: None,
        usages: "[]".to_owned(),
        auto_rotate: 0,
        rotate_before_days: 7,
        consecutive_failures: 0,
        refresh_generation: 0,
        version: 1,
        last_checked_at: None,
        last_rotated_at: None,
        instance_id: None,
        external_tenant_id: None,
        external_user_id: None,
        token_issued_at: None,
        next_refresh_at: None,
        last_used_at: None,
        created_at: now,
        updated_at: now,
        access_token_hash: None,
        refresh_token_hash: None,
    }
}

fn event(id: &str, tenant: &str, connection: &str, now: i64) -> ConnectionEventRecord {
    ConnectionEventRecord {
        id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        connection_id: connection.to_owned(),
        kind: "status_changed".to_owned(),
        from_status: Some("active".to_owned()),
        to_status: Some("expiring".to_owned()),
        reason: None,
        created_at: now,
    }
}

#[tokio::test]
async fn connections_are_tenant_scoped_named_uniquely_and_versioned() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    store
        .insert_connection(&record("c1", &acme, "main", 10))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_connection(&record("c2", &acme, "main", 11)).await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .insert_connection(&record("c3", &other, "main", 12))
        .await
        .unwrap();
    assert!(matches!(
        store.connection(&other, "c1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .connection_by_name(&acme, "gitlab", "main", None)
            .await
            .unwrap()
            .id,
        "c1"
    );
    let (rows, total) = store
        .list_connections(&filter(&acme, Some("gitlab"), None), 0, Some(10))
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    assert_eq!(
        store
            .list_connections(&filter(&acme, None, None), 0, Some(10))
            .await
            .unwrap()
            .1,
        1
    );

    let mut changed = store.connection(&acme, "c1").await.unwrap();
    changed.name = "renamed".to_owned();
    changed.version = 2;
    assert!(store.save_connection(&changed, 1).await.unwrap().is_some());
    assert!(
        store.save_connection(&changed, 1).await.unwrap().is_none(),
        "stale version"
    );
    changed.status = "expiring".to_owned();
    assert!(
        store
            .save_connection_with_event(&changed, 2, &event("e1", &acme, "c1", 20))
            .await
            .unwrap()
            .is_some()
    );
    let (events, total) = store.list_connection_events(&acme, "c1", 0, 10).await.unwrap();
    assert_eq!((events.len(), total), (1, 1));
    assert_eq!(
        store.list_connection_events(&other, "c1", 0, 10).await.unwrap().1,
        0
    );
    assert_eq!(store.prune_connection_events(21).await.unwrap(), 1);
    assert_eq!(store.connections_after("", 10).await.unwrap().len(), 2);
    assert!(!store.delete_connection(&other, "c1").await.unwrap());
    assert!(store.delete_connection(&acme, "c1").await.unwrap());
}

#[tokio::test]
async fn connections_are_listed_and_found_by_project() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    let mut records = Vec::new();
    for (id, tenant, name, project) in [
        ("c1", &acme, "one", Some("p1")),
        ("c2", &acme, "two", Some("p2")),
        ("c3", &acme, "three", None),
        ("c4", &acme, "four", Some("p1")),
        ("c5", &other, "five", Some("p1")),
    ] {
        let mut record = record(id, tenant, name, records.len() as i64);
        record.project_id = project.map(str::to_owned);
        records.push(record);
    }
    store.insert_connections(&records).await.unwrap();
    let names = |rows: Vec<ConnectionRecord>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let (rows, total) = store
        .list_connections(&filter(&acme, Some("gitlab"), Some("p1")), 0, None)
        .await
        .unwrap();
    assert_eq!(
        (names(rows), total),
        (vec!["one".to_owned(), "four".to_owned()], 2)
    );
    let (rows, total) = store
        .list_connections(&filter(&acme, None, Some("p1")), 1, Some(1))
        .await
        .unwrap();
    assert_eq!((names(rows), total), (vec!["four".to_owned()], 2));
    let (_, total) = store
        .list_connections(&filter(&acme, None, None), 0, None)
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        store
            .connection_by_name(&acme, "gitlab", "two", Some("p2"))
            .await
            .unwrap()
            .id,
        "c2"
    );
    for project in [Some("p1"), Some("")] {
        assert!(matches!(
            store.connection_by_name(&acme, "gitlab", "two", project).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(matches!(
        store
            .connection_by_name(&acme, "gitlab", "three", Some("p1"))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn journal_answers_apply_in_one_transaction() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_connection(&record("c1", &acme, "main", 10))
        .await
        .unwrap();
    let entry = NewJournalEntry {
        id: "j1",
        tenant_id: &acme,
        connection_id: "c1",
        operation: "rotate",
        job_id: Some("job-1"),
        now: 11,
    };
    store.insert_journal(&entry).await.unwrap();
    assert!(
        matches!(
            store.insert_journal(&NewJournalEntry { id: "j2", ..entry }).await,
            Err(StoreError::Conflict { .. })
        ),
        "one entry per connection"
    );
    assert!(store.record_journal_answer("j1", b"sealed", 12).await.unwrap());
    assert!(!store.record_journal_answer("j1", b"again", 13).await.unwrap());
    let entries = store.connection_journal(&acme, "c1").await.unwrap();
    assert_eq!(entries[0].state, "answered");
    assert_eq!(entries[0].sealed_answer.as_deref(), Some(&b"sealed"[..]));
    assert_eq!(entries[0].job_id.as_deref(), Some("job-1"));

    let mut next = store.connection(&acme, "c1").await.unwrap();
    next.token_id = Some(8);
    next.updated_at = 14;
    let slot = VaultItemKey {
        tenant_id: &acme,
        owner_table: "app_connections",
        owner_id: "c1",
        field: "accessToken",
    };
    let ev = event("e1", &acme, "c1", 14);
    let tokens = [SealedItem {
        key: slot,
        sealed: b"new-token",
        data_key_id: "d1",
        now: 14,
    }];
    let stale = JournalApply {
        journal_id: "j1",
        tokens: &tokens,
        connection: &next,
        expected_version: 5,
        event: Some(&ev),
        refresh: None,
    };
    assert!(!store.apply_journal(&stale).await.unwrap());
    assert!(
        store.vault_item(&slot).await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        store
            .apply_journal(&JournalApply {
                expected_version: 1,
                ..stale
            })
            .await
            .unwrap()
    );
    assert_eq!(
        store.vault_item(&slot).await.unwrap().unwrap().sealed,
        b"new-token"
    );
    assert_eq!(store.connection(&acme, "c1").await.unwrap().token_id, Some(8));
    assert!(store.all_journal(10).await.unwrap().is_empty());
    assert_eq!(
        store.list_connection_events(&acme, "c1", 0, 10).await.unwrap().1,
        1
    );
}

#[tokio::test]
async fn ten_thousand_connections_page() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let records: Vec<_> = (0..10_000)
        .map(|i| record(&format!("c{i:05}"), &acme, &format!("conn-{i:05}"), i64::from(i)))
        .collect();
    store.insert_connections(&records).await.unwrap();
    let (rows, total) = store
        .list_connections(&filter(&acme, Some("gitlab"), None), 9_990, Some(50))
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (10, 10_000));
    assert_eq!(rows[0].name, "conn-09990");
    let (rows, total) = store
        .list_connections(&filter(&acme, Some("gitlab"), None), 0, None)
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (10_000, 10_000), "no limit is every row");
    let (rows, total) = store
        .list_connections(&filter(&acme, Some("gitlab"), None), 9_000, None)
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (1_000, 10_000));
}

#[tokio::test]
async fn token_and_row_are_written_together() {
    use labgate_store::SealedItem;
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let key = |id: &'static str| VaultItemKey {
        tenant_id: "",
        owner_table: "app_connections",
        owner_id: id,
        field: "accessToken",
    };
    let mut k1 = key("c1");
    k1.tenant_id = &acme;
    let item = SealedItem {
        key: k1,
        sealed: b"t1",
        data_key_id: "d1",
        now: 10,
    };
    store
        .insert_connection_with_token(&record("c1", &acme, "main", 10), &item)
        .await
        .unwrap();
    let mut k2 = key("c2");
    k2.tenant_id = &acme;
    let clash = SealedItem { key: k2, ..item };
    assert!(matches!(
        store
            .insert_connection_with_token(&record("c2", &acme, "main", 11), &clash)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        store.vault_item(&k2).await.unwrap().is_none(),
        "nothing half-written"
    );

    let mut next = store.connection(&acme, "c1").await.unwrap();
    next.version = 2;
    let newer = SealedItem {
        sealed: b"t2",
        ..item
    };
    let ev = event("e1", &acme, "c1", 12);
    assert!(
        store
            .save_connection_with_token(&next, 5, &newer, Some(&ev))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.vault_item(&k1).await.unwrap().unwrap().sealed, b"t1");
    assert!(
        store
            .save_connection_with_token(&next, 1, &newer, Some(&ev))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.vault_item(&k1).await.unwrap().unwrap().sealed, b"t2");
    assert_eq!(
        store.list_connection_events(&acme, "c1", 0, 10).await.unwrap().1,
        1
    );
}

#[tokio::test]
async fn refresh_leases_exclude_other_holders_until_they_lapse() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_connection(&record("c1", &acme, "main", 10))
        .await
        .unwrap();
    assert!(
        store
            .take_refresh_lease(&acme, "c1", "p1", 100, 200)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_refresh_lease(&acme, "c1", "p1", 150, 250)
            .await
            .unwrap(),
        "the holder renews"
    );
    assert!(
        !store
            .take_refresh_lease(&acme, "c1", "p2", 200, 300)
            .await
            .unwrap(),
        "held until 250"
    );
    assert!(
        store
            .take_refresh_lease(&acme, "c1", "p2", 250, 350)
            .await
            .unwrap(),
        "lapsed at 250"
    );
    assert!(
        !store.release_refresh_lease(&acme, "c1", "p1").await.unwrap(),
        "p1 no longer holds it"
    );

    // An apply under the lease checks its holder and the generation, and releases the lease.
    store
        .insert_journal(&NewJournalEntry {
            id: "j1",
            tenant_id: &acme,
            connection_id: "c1",
            operation: "refresh",
            job_id: None,
            now: 260,
        })
        .await
        .unwrap();
    let mut next = store.connection(&acme, "c1").await.unwrap();
    next.refresh_generation += 1;
    next.version += 1;
    let apply = |owner, generation| JournalApply {
        journal_id: "j1",
        tokens: &[],
        connection: &next,
        expected_version: 1,
        event: None,
        refresh: Some(RefreshHold {
            lease_owner: Some(owner),
            expected_generation: generation,
        }),
    };
    assert!(
        !store.apply_journal(&apply("p1", 0)).await.unwrap(),
        "not the holder"
    );
    assert!(
        !store.apply_journal(&apply("p2", 7)).await.unwrap(),
        "another generation"
    );
    assert!(store.apply_journal(&apply("p2", 0)).await.unwrap());
    assert_eq!(store.connection(&acme, "c1").await.unwrap().refresh_generation, 1);
    assert!(
        store
            .take_refresh_lease(&acme, "c1", "p3", 261, 300)
            .await
            .unwrap(),
        "released by the apply"
    );
}

#[tokio::test]
async fn oauth_states_are_single_use() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let state = OAuthStateRecord {
        state_hash: "h1".to_owned(),
        tenant_id: acme.clone(),
        instance_id: None,
        request: "{}".to_owned(),
        sealed_verifier: b"sealed".to_vec(),
        browser_binding: None,
        created_at: 1,
        expires_at: 600_001,
        used_at: None,
    };
    store.insert_oauth_state(&state).await.unwrap();
    let used = store.use_oauth_state("h1", 5).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(5));
    assert!(
        store.use_oauth_state("h1", 6).await.unwrap().is_none(),
        "used once"
    );
    assert!(store.use_oauth_state("h2", 6).await.unwrap().is_none(), "unknown");
    assert_eq!(store.prune_oauth_states(600_002).await.unwrap(), 1);
}

#[tokio::test]
async fn last_uses_are_written_in_batches_and_never_move_back() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    // More rows than one statement carries.
    let records: Vec<ConnectionRecord> = (0..1_200)
        .map(|i| record(&format!("c{i:04}"), &acme, &format!("n{i:04}"), 10))
        .collect();
    store.insert_connections(&records).await.unwrap();
    let uses: Vec<ConnectionUse<'_>> = records
        .iter()
        .zip(5_000..)
        .map(|(record, used_at)| ConnectionUse {
            connection_id: &record.id,
            used_at,
        })
        .collect();
    store.record_connection_use(&uses).await.unwrap();
    let last_used = |id: &'static str| {
        let store = store.clone();
        let acme = acme.clone();
        async move { store.connection(&acme, id).await.unwrap().last_used_at }
    };
    for (id, expected) in [
        ("c0000", 5_000),
        ("c0499", 5_499),
        ("c0500", 5_500),
        ("c1199", 6_199),
    ] {
        assert_eq!(last_used(id).await, Some(expected), "{id}");
    }

    // An older use (another process's) does not take it back; a deleted connection is skipped.
    store
        .record_connection_use(&[
            ConnectionUse {
                connection_id: "c0000",
                used_at: 1,
            },
            ConnectionUse {
                connection_id: "c0001",
                used_at: 9_999,
            },
            ConnectionUse {
                connection_id: "gone",
                used_at: 9_999,
            },
        ])
        .await
        .unwrap();
    assert_eq!(last_used("c0000").await, Some(5_000));
    assert_eq!(last_used("c0001").await, Some(9_999));

    // Saving the row from an older read keeps the recorded use.
    let mut row = store.connection(&acme, "c0001").await.unwrap();
    row.last_used_at = None;
    row.version = 2;
    assert!(store.save_connection(&row, 1).await.unwrap().is_some());
    assert_eq!(last_used("c0001").await, Some(9_999));
}
