use labgate_store::{ConnectSessionClaim, ConnectSessionRecord, NewApiKey, Store};

async fn session(store: &Store, token_hash: &str, expires_at: i64) -> ConnectSessionRecord {
    let tenant = crate::tenant(store, &format!("t-{token_hash}")).await;
    let key_id = format!("k-{token_hash}");
    store
        .insert_api_key(&NewApiKey {
            id: &key_id,
            tenant_id: &tenant,
            name: "backend",
            prefix: "lgk_abcdefgh",
            token_hash: token_hash.as_bytes(),
            role: "admin",
            expires_at: None,
            created_by: None,
            now: 1,
        })
        .await
        .unwrap();
    let record = ConnectSessionRecord {
        id: format!("s-{token_hash}"),
        token_hash: token_hash.to_owned(),
        tenant_id: tenant,
        api_key_id: key_id,
        name: "gitlab".to_owned(),
        description: None,
        scopes: "read_api read_user".to_owned(),
        instance_url: None,
        external_tenant_id: Some("org".to_owned()),
        external_user_id: Some("user".to_owned()),
        allowed_origin: "https://app.example.com".to_owned(),
        created_at: 1,
        expires_at,
        used_at: None,
    };
    store.insert_connect_session(&record).await.unwrap();
    record
}

#[tokio::test]
async fn a_session_is_claimed_once_before_it_expires() {
    let (store, _db) = crate::fresh_store().await;
    let record = session(&store, "h1", 1_000).await;
    let (a, b) = tokio::join!(
        store.use_connect_session("h1", 10),
        store.use_connect_session("h1", 10)
    );
    let claims = [a.unwrap(), b.unwrap()];
    let claimed: Vec<_> = claims
        .iter()
        .filter_map(|claim| match claim {
            ConnectSessionClaim::Claimed(record) => Some(record),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 1, "{claims:?}");
    assert_eq!(
        claimed[0],
        &ConnectSessionRecord {
            used_at: Some(10),
            ..record
        }
    );
    assert!(
        claims
            .iter()
            .any(|claim| matches!(claim, ConnectSessionClaim::Refused(r) if r.used_at == Some(10))),
        "{claims:?}"
    );
    assert_eq!(
        store.use_connect_session("nope", 10).await.unwrap(),
        ConnectSessionClaim::Unknown
    );
    assert_eq!(
        store.connect_session("s-h1").await.unwrap().unwrap().used_at,
        Some(10)
    );

    session(&store, "h2", 1_000).await;
    assert!(
        matches!(
            store.use_connect_session("h2", 1_000).await.unwrap(),
            ConnectSessionClaim::Refused(r) if r.used_at.is_none()
        ),
        "expired at its expiry"
    );
    assert_eq!(store.prune_connect_sessions(1_001).await.unwrap(), 2);
    assert!(store.connect_session("s-h1").await.unwrap().is_none());
}
