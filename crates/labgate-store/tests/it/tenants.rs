use labgate_store::{NewTenant, NewTenantKeys, StoreError, TenantKeyRewrap};

fn keys<'a>(id: &'a str, dek: &'a [u8]) -> NewTenantKeys<'a> {
    NewTenantKeys {
        id,
        wrapped_data_key: dek,
        wrapped_hash_key: b"hk",
        root_key_id: "k1",
    }
}

#[tokio::test]
async fn tenant_names_are_unique_and_nothing_is_half_written() {
    let (store, _db) = crate::fresh_store().await;
    crate::tenant(&store, "acme").await;
    let error = store
        .insert_tenant(&NewTenant {
            id: "other-id",
            name: "acme",
            keys: keys("d9", b"x"),
            now: 5,
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
    assert!(store.tenant_keys("other-id", "d9").await.unwrap().is_none());
}

#[tokio::test]
async fn rewrap_is_compare_and_swap() {
    let (store, _db) = crate::fresh_store().await;
    let id = crate::tenant(&store, "acme").await;
    let rewrap = TenantKeyRewrap {
        tenant_id: &id,
        id: "d1",
        expected_wrapped_data_key: b"wrapped-dek",
        wrapped_data_key: b"new-dek",
        wrapped_hash_key: b"new-hk",
        root_key_id: "k2",
    };
    assert!(store.rewrap_tenant_keys(&rewrap).await.unwrap());
    // A second rewrap still expecting the old bytes must not apply.
    assert!(!store.rewrap_tenant_keys(&rewrap).await.unwrap());
    let active = store.active_tenant_keys(&id).await.unwrap().unwrap();
    assert_eq!(active.wrapped_data_key, b"new-dek");
    assert_eq!(active.root_key_id, "k2");
    assert_eq!(store.all_tenant_keys().await.unwrap(), vec![active]);
}

#[tokio::test]
async fn data_key_rotation_keeps_exactly_one_active_generation() {
    let (store, _db) = crate::fresh_store().await;
    let id = crate::tenant(&store, "acme").await;
    assert!(
        store
            .rotate_tenant_data_key(&id, "d1", &keys("d2", b"dek2"), 50)
            .await
            .unwrap()
    );
    // A rotation that read a stale active generation changes nothing.
    assert!(
        !store
            .rotate_tenant_data_key(&id, "d1", &keys("d3", b"dek3"), 60)
            .await
            .unwrap()
    );
    let active = store.active_tenant_keys(&id).await.unwrap().unwrap();
    assert_eq!(active.id, "d2");
    let old = store.tenant_keys(&id, "d1").await.unwrap().unwrap();
    assert_eq!((old.state.as_str(), old.retired_at), ("retired", Some(50)));
    assert!(store.tenant_keys(&id, "d3").await.unwrap().is_none());
    assert_eq!(store.tenant_by_id(&id).await.unwrap().unwrap().updated_at, 50);
}
