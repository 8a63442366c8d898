use labgate_store::{NewTenant, StoreError, TenantKeyUpdate};

#[tokio::test]
async fn tenant_names_are_unique() {
    let (store, _db) = crate::fresh_store().await;
    crate::tenant(&store, "acme").await;
    let error = store
        .insert_tenant(&NewTenant {
            id: "other-id",
            name: "acme",
            wrapped_data_key: b"x",
            wrapped_hash_key: b"y",
            root_key_id: "k1",
            data_key_id: "d",
            now: 5,
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn key_swap_is_compare_and_swap() {
    let (store, _db) = crate::fresh_store().await;
    let id = crate::tenant(&store, "acme").await;
    let update = TenantKeyUpdate {
        tenant_id: &id,
        expected_data_key: b"wrapped-dek",
        wrapped_data_key: b"new-dek",
        wrapped_hash_key: b"new-hk",
        root_key_id: "k2",
        data_key_id: "d2",
        now: 2_000,
    };
    assert!(store.swap_tenant_keys(&update).await.unwrap());
    // A second swap still expecting the old key must not apply.
    assert!(!store.swap_tenant_keys(&update).await.unwrap());
    let tenant = store.tenant_by_name("acme").await.unwrap().unwrap();
    assert_eq!(tenant.wrapped_data_key, b"new-dek");
    assert_eq!(tenant.root_key_id, "k2");
    assert_eq!(tenant.updated_at, 2_000);
    assert_eq!(store.tenant_by_id(&id).await.unwrap(), Some(tenant));
}
