use labgate_store::{NewApiKey, StoreError};

fn key<'a>(id: &'a str, tenant: &'a str, hash: &'a [u8], now: i64) -> NewApiKey<'a> {
    NewApiKey {
        id,
        tenant_id: tenant,
        name: "ci",
        prefix: "lgk_abcdefgh",
        token_hash: hash,
        role: "admin",
        expires_at: None,
        created_by: None,
        now,
    }
}

#[tokio::test]
async fn keys_are_found_by_hash_and_scoped_by_tenant() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    store
        .insert_api_key(&key("k1", &acme, &[1; 32], 10))
        .await
        .unwrap();
    store
        .insert_api_key(&key("k2", &other, &[2; 32], 20))
        .await
        .unwrap();

    let found = store.api_key_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.tenant_id.as_str()),
        ("k1", acme.as_str())
    );
    assert!(store.api_key_by_hash(&[3; 32]).await.unwrap().is_none());

    assert!(matches!(
        store.api_key(&acme, "k2").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_api_key(&acme, "k2", 30).await,
        Err(StoreError::NotFound)
    ));
    let (page, total) = store.list_api_keys(&acme, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
}

#[tokio::test]
async fn duplicate_hash_is_a_conflict() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_api_key(&key("k1", &acme, &[1; 32], 10))
        .await
        .unwrap();
    let error = store
        .insert_api_key(&key("k2", &acme, &[1; 32], 10))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }));
}

#[tokio::test]
async fn revocation_keeps_the_first_time_and_touch_is_throttled() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_api_key(&key("k1", &acme, &[1; 32], 10))
        .await
        .unwrap();
    assert_eq!(
        store.revoke_api_key(&acme, "k1", 100).await.unwrap().revoked_at,
        Some(100)
    );
    assert_eq!(
        store.revoke_api_key(&acme, "k1", 200).await.unwrap().revoked_at,
        Some(100)
    );

    store.touch_api_key("k1", 1_000, 60_000).await.unwrap();
    store.touch_api_key("k1", 2_000, 60_000).await.unwrap();
    assert_eq!(
        store.api_key(&acme, "k1").await.unwrap().last_used_at,
        Some(1_000)
    );
    store.touch_api_key("k1", 70_000, 60_000).await.unwrap();
    assert_eq!(
        store.api_key(&acme, "k1").await.unwrap().last_used_at,
        Some(70_000)
    );
}

#[tokio::test]
async fn pagination_orders_newest_first_and_counts_all() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    for n in 0..7u8 {
        store
            .insert_api_key(&key(&format!("k{n}"), &acme, &[n; 32], i64::from(n)))
            .await
            .unwrap();
    }
    let (first, total) = store.list_api_keys(&acme, 0, 3).await.unwrap();
    assert_eq!(total, 7);
    assert_eq!(
        first.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["k6", "k5", "k4"]
    );
    let (last, _) = store.list_api_keys(&acme, 6, 3).await.unwrap();
    assert_eq!(last.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k0"]);
    let (beyond, _) = store.list_api_keys(&acme, u64::MAX, 3).await.unwrap();
    assert!(beyond.is_empty());
}
