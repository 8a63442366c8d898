use labgate_store::{InstanceRecord, StoreError};

fn record(id: &str, tenant_id: &str, url: &str, now: i64) -> InstanceRecord {
    InstanceRecord {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        url: url.to_owned(),
        kind: "self-managed".to_owned(),
        oauth_client_id: Some("client".to_owned()),
        ca_bundle: None,
        proxy_url: None,
        version: 0,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn instances_are_tenant_scoped_and_unique_per_url() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    let first = store
        .insert_instance(&record("i1", &acme, "https://gitlab.example", 1))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    store
        .insert_instance(&record("i2", &acme, "https://gitlab.example/prefix", 2))
        .await
        .unwrap();
    store
        .insert_instance(&record("i3", &other, "https://gitlab.example", 3))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_instance(&record("i4", &acme, "https://gitlab.example", 4))
            .await,
        Err(StoreError::Conflict { .. })
    ));

    assert!(matches!(
        store.instance(&other, "i1").await,
        Err(StoreError::NotFound)
    ));
    let (page, total) = store.list_instances(&acme, 0, 1).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page.iter().map(|row| row.id.as_str()).collect::<Vec<_>>(), ["i1"]);
    let (page, _) = store.list_instances(&acme, 1, 10).await.unwrap();
    assert_eq!(page.iter().map(|row| row.id.as_str()).collect::<Vec<_>>(), ["i2"]);

    assert!(!store.delete_instance(&other, "i1").await.unwrap());
    assert!(store.delete_instance(&acme, "i1").await.unwrap());
    assert!(matches!(
        store.instance(&acme, "i1").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn updates_need_the_version_read() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_instance(&record("i1", &acme, "https://a.example", 1))
        .await
        .unwrap();
    store
        .insert_instance(&record("i2", &acme, "https://b.example", 1))
        .await
        .unwrap();
    let mut row = store.instance(&acme, "i1").await.unwrap();
    row.ca_bundle = Some("pem".to_owned());
    row.proxy_url = Some("http://proxy:3128".to_owned());
    row.oauth_client_id = None;
    row.updated_at = 7;
    let saved = store.update_instance(&row).await.unwrap();
    assert_eq!((saved.version, saved.updated_at), (2, 7));
    assert_eq!(saved.ca_bundle.as_deref(), Some("pem"));
    assert_eq!(saved.oauth_client_id, None);

    // `row` still carries version 1: another writer got there first.
    assert!(matches!(
        store.update_instance(&row).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut taken = saved.clone();
    taken.url = "https://b.example".to_owned();
    assert!(matches!(
        store.update_instance(&taken).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut gone = saved;
    gone.id = "missing".to_owned();
    assert!(matches!(
        store.update_instance(&gone).await,
        Err(StoreError::NotFound)
    ));
    gone.id = "i1".to_owned();
    gone.tenant_id = crate::tenant(&store, "other").await;
    assert!(matches!(
        store.update_instance(&gone).await,
        Err(StoreError::NotFound)
    ));
}
