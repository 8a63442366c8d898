//! Store tests. Each runs on a fresh database of the backend chosen for the run
//! (`LABGATE_TEST_BACKEND`), so the same suite covers SQLite and PostgreSQL.

mod access;
mod api_keys;
mod app_connections;
mod audit;
mod connect_sessions;
mod gitlab_instances;
mod jobs;
mod schema;
mod secret_scanning;
mod tenants;
mod users;
mod vault_items;
mod webhooks;

use labgate_store::{Store, StoreOptions};
use labgate_testkit::TestDatabase;

pub async fn fresh_store() -> (Store, TestDatabase) {
    let database = TestDatabase::new().await;
    let store = Store::connect(database.url(), &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    (store, database)
}

pub async fn tenant(store: &Store, name: &str) -> String {
    let id = format!("tnt_{name}");
    store
        .insert_tenant(&labgate_store::NewTenant {
            id: &id,
            name,
            keys: labgate_store::NewTenantKeys {
                id: "d1",
                wrapped_data_key: b"wrapped-dek",
                wrapped_hash_key: b"wrapped-hk",
                root_key_id: "k1",
            },
            now: 1_000,
        })
        .await
        .expect("insert tenant");
    id
}
