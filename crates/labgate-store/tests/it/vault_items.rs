use labgate_store::VaultItemKey;

#[tokio::test]
async fn items_upsert_swap_and_delete_per_owner() {
    let (store, _db) = crate::fresh_store().await;
    let tenant = crate::tenant(&store, "acme").await;
    let key = VaultItemKey {
        tenant_id: &tenant,
        owner_table: "app_connections",
        owner_id: "c1",
        field: "token",
    };
    store.put_vault_item(&key, b"sealed-1", "d1", 10).await.unwrap();
    store.put_vault_item(&key, b"sealed-2", "d1", 20).await.unwrap();
    let item = store.vault_item(&key).await.unwrap().unwrap();
    assert_eq!(
        (item.sealed.as_slice(), item.updated_at),
        (b"sealed-2".as_slice(), 20)
    );

    assert_eq!(
        store
            .vault_items_not_under(&tenant, "d1", 10)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store
            .vault_items_not_under(&tenant, "d2", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !store
            .swap_vault_item(&key, b"sealed-1", b"sealed-3", "d2")
            .await
            .unwrap()
    );
    assert!(
        store
            .swap_vault_item(&key, b"sealed-2", b"sealed-3", "d2")
            .await
            .unwrap()
    );
    assert_eq!(store.vault_item(&key).await.unwrap().unwrap().data_key_id, "d2");

    let other = VaultItemKey {
        field: "refresh",
        ..key
    };
    store.put_vault_item(&other, b"x", "d2", 30).await.unwrap();
    assert_eq!(
        store
            .delete_vault_items(&tenant, "app_connections", "c1")
            .await
            .unwrap(),
        2
    );
    assert!(store.vault_item(&key).await.unwrap().is_none());
}
