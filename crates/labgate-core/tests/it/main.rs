//! Domain tests on a fresh database of the run's backend (`LABGATE_TEST_BACKEND`), each in its
//! own `labgate_testkit::TestEnv`.

mod access;
mod access_hooks;
mod api_keys;
mod audit;
mod connections;
mod credentials;
mod model;
mod network;
mod oauth;
mod oauth_checks;
mod older_gitlab;
mod secrets;
mod ui_users;
mod vault;

use labgate_store::{Store, StoreOptions};
use labgate_testkit::{TestDatabase, TestEnv};

pub async fn env() -> TestEnv {
    TestEnv::new().await
}

/// A second handle on the same database, as another process would open it.
pub async fn connect(database: &TestDatabase) -> Store {
    let store = Store::connect(database.url(), &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}
