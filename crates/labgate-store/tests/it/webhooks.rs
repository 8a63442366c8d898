use labgate_store::{DeliveryAttempt, NewDelivery, NewWebhook, StoreError};

#[tokio::test]
async fn subscriptions_are_tenant_scoped() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    let new = NewWebhook {
        id: "w1",
        tenant_id: &acme,
        url: "https://hooks.example/a",
        description: None,
        events: "[\"*\"]",
        enabled: true,
        now: 1,
    };
    store.insert_webhook(&new).await.unwrap();
    store
        .insert_webhook(&NewWebhook {
            id: "w2",
            enabled: false,
            now: 2,
            ..new.clone()
        })
        .await
        .unwrap();
    assert!(matches!(
        store.webhook(&other, "w1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_webhooks(&acme, 0, 10).await.unwrap().1, 2);
    assert_eq!(store.enabled_webhooks(&acme).await.unwrap().len(), 1);
    let mut record = store.webhook(&acme, "w2").await.unwrap();
    record.enabled = 1;
    record.updated_at = 5;
    assert_eq!(store.update_webhook(&record).await.unwrap().updated_at, 5);
    record.tenant_id = other.clone();
    assert!(matches!(
        store.update_webhook(&record).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store.delete_webhook(&other, "w1").await.unwrap());
    assert!(store.delete_webhook(&acme, "w1").await.unwrap());
}

#[tokio::test]
async fn deliveries_are_leased_retried_and_pruned() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let hook = NewWebhook {
        id: "w1",
        tenant_id: &acme,
        url: "https://x",
        description: None,
        events: "[\"*\"]",
        enabled: true,
        now: 1,
    };
    store.insert_webhook(&hook).await.unwrap();
    for (id, now) in [("d1", 10), ("d2", 20)] {
        let delivery = NewDelivery {
            id,
            tenant_id: &acme,
            subscription_id: "w1",
            event_type: "t",
            payload: "{}",
            now,
        };
        store.insert_delivery(&delivery).await.unwrap();
    }
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(10));
    let claimed = store.claim_deliveries("a", 100, 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Leased: nobody else gets them until the lease expires.
    assert!(
        store
            .claim_deliveries("b", 500, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = DeliveryAttempt {
        id: "d1",
        owner: "a",
        status: Some(500),
        error: Some("HTTP 500"),
        delivered: false,
        retry_at: Some(2_000),
        now: 600,
    };
    assert!(store.record_delivery_attempt(&retry).await.unwrap());
    let done = DeliveryAttempt {
        id: "d2",
        owner: "a",
        status: Some(204),
        error: None,
        delivered: true,
        retry_at: None,
        now: 600,
    };
    assert!(store.record_delivery_attempt(&done).await.unwrap());
    assert!(
        !store.record_delivery_attempt(&done).await.unwrap(),
        "a finished delivery is not recorded twice"
    );
    assert!(
        store
            .claim_deliveries("b", 1_999, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_deliveries("b", 2_000, 1_000, 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    let give_up = DeliveryAttempt {
        id: "d1",
        owner: "b",
        status: None,
        error: Some("timed out"),
        delivered: false,
        retry_at: None,
        now: 2_100,
    };
    assert!(store.record_delivery_attempt(&give_up).await.unwrap());
    let (listed, total) = store.list_deliveries(&acme, "w1", 0, 10).await.unwrap();
    assert_eq!(total, 2);
    let states: Vec<&str> = listed.iter().map(|d| d.state.as_str()).collect();
    assert_eq!(states, ["delivered", "failed"]);
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
    assert_eq!(store.prune_deliveries(15).await.unwrap(), 1);
}
