use labgate_store::{AuditFilter, FOLDED_AUDIT_BATCH, FoldedAuditEntry, NewAuditEntry};

fn folded<'a>(tenant_id: &'a str, id: &'a str, occurrences: i32) -> FoldedAuditEntry<'a> {
    FoldedAuditEntry {
        entry: NewAuditEntry {
            id,
            tenant_id: Some(tenant_id),
            actor_kind: "api-key",
            actor_id: Some("key-1"),
            action: "app-connection.credential-read",
            resource_kind: "app-connection",
            resource_id: Some(id),
            source_ip: Some("192.0.2.7"),
            details: None,
            now: 60_000,
        },
        occurrences,
    }
}

#[tokio::test]
async fn folded_occurrences_are_inserted_then_added_up_across_batches() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let ids: Vec<String> = (0..2 * FOLDED_AUDIT_BATCH + 50)
        .map(|i| format!("fold-{i:04}"))
        .collect();
    let entries: Vec<FoldedAuditEntry<'_>> = ids.iter().map(|id| folded(&acme, id, 2)).collect();
    store.add_audit_occurrences(&entries).await.unwrap();
    let later: Vec<FoldedAuditEntry<'_>> = ids.iter().take(10).map(|id| folded(&acme, id, 3)).collect();
    store.add_audit_occurrences(&later).await.unwrap();

    let (rows, total) = store
        .list_audit(&AuditFilter {
            tenant_id: &acme,
            limit: 1_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, u64::try_from(ids.len()).unwrap());
    let sum: i64 = rows.iter().map(|row| i64::from(row.occurrences)).sum();
    assert_eq!(sum, 2 * i64::try_from(ids.len()).unwrap() + 3 * 10);
    let first = rows.iter().find(|row| row.id == "fold-0000").unwrap();
    assert_eq!(first.occurrences, 5);
    assert_eq!(first.created_at, 60_000);
    assert_eq!(first.source_ip.as_deref(), Some("192.0.2.7"));
}
