use labgate_store::{NewSession, NewUser, StoreError};

fn user<'a>(id: &'a str, tenant: &'a str, email: &'a str) -> NewUser<'a> {
    NewUser {
        id,
        tenant_id: tenant,
        email,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        role: "admin",
        now: 10,
    }
}

fn session<'a>(hash: &'a [u8], user: &'a str, tenant: &'a str) -> NewSession<'a> {
    NewSession {
        token_hash: hash,
        user_id: user,
        tenant_id: tenant,
        now: 100,
        expires_at: 1_000,
    }
}

#[tokio::test]
async fn emails_are_unique_across_tenants_and_logins_find_the_hash() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    let other = crate::tenant(&store, "other").await;
    let created = store
        .insert_user(&user("u1", &acme, "ann@example.com"))
        .await
        .unwrap();
    assert_eq!(
        (created.email.as_str(), created.last_login_at),
        ("ann@example.com", None)
    );
    let taken = store
        .insert_user(&user("u2", &other, "ann@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::Conflict { .. }), "{taken:?}");
    let login = store.user_login("ann@example.com").await.unwrap().unwrap();
    assert_eq!(
        (login.id.as_str(), login.tenant_id.as_str()),
        ("u1", acme.as_str())
    );
    assert!(login.password_hash.starts_with("$argon2id$"));
    assert!(
        !format!("{login:?}").contains("argon2id"),
        "Debug leaves the hash out"
    );
    assert!(store.user_login("bob@example.com").await.unwrap().is_none());
    store.record_user_login("u1", 50).await.unwrap();
    assert_eq!(store.list_users(&acme).await.unwrap()[0].last_login_at, Some(50));
    assert!(store.list_users(&other).await.unwrap().is_empty());
}

#[tokio::test]
async fn sessions_carry_their_user_and_end_with_them() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_user(&user("u1", &acme, "ann@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("u2", &acme, "bob@example.com"))
        .await
        .unwrap();
    store
        .insert_session(&session(&[1; 32], "u1", &acme))
        .await
        .unwrap();
    store
        .insert_session(&session(&[2; 32], "u1", &acme))
        .await
        .unwrap();
    store
        .insert_session(&session(&[3; 32], "u2", &acme))
        .await
        .unwrap();

    let found = store.session(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (
            found.email.as_str(),
            found.tenant_name.as_str(),
            found.role.as_str(),
            found.last_seen_at
        ),
        ("ann@example.com", "acme", "admin", 100)
    );
    assert!(store.session(&[9; 32]).await.unwrap().is_none());

    store.touch_session(&[1; 32], 130, 60).await.unwrap();
    assert_eq!(
        store.session(&[1; 32]).await.unwrap().unwrap().last_seen_at,
        100,
        "within the minute"
    );
    store.touch_session(&[1; 32], 200, 60).await.unwrap();
    assert_eq!(store.session(&[1; 32]).await.unwrap().unwrap().last_seen_at, 200);

    store.delete_session(&[2; 32]).await.unwrap();
    store.delete_session(&[2; 32]).await.unwrap();
    assert!(store.session(&[2; 32]).await.unwrap().is_none());
    assert_eq!(store.delete_user_sessions("u2").await.unwrap(), 1);

    store
        .insert_session(&session(&[4; 32], "u1", &acme))
        .await
        .unwrap();
    store.delete_user("u1").await.unwrap();
    assert!(store.session(&[1; 32]).await.unwrap().is_none());
    assert!(store.session(&[4; 32]).await.unwrap().is_none());
    assert!(matches!(store.delete_user("u1").await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.user_by_email("ann@example.com").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn expired_sessions_are_pruned() {
    let (store, _db) = crate::fresh_store().await;
    let acme = crate::tenant(&store, "acme").await;
    store
        .insert_user(&user("u1", &acme, "ann@example.com"))
        .await
        .unwrap();
    store
        .insert_session(&session(&[1; 32], "u1", &acme))
        .await
        .unwrap();
    let mut later = session(&[2; 32], "u1", &acme);
    later.expires_at = 5_000;
    store.insert_session(&later).await.unwrap();
    assert_eq!(store.delete_expired_sessions(2_000).await.unwrap(), 1);
    assert!(store.session(&[2; 32]).await.unwrap().is_some());
}
