//! Domain tests on a fresh database of the run's backend (`LABGATE_TEST_BACKEND`).

mod api_keys;
mod audit;
mod connections;
mod vault;

use std::sync::Arc;

use labgate_core::Services;
use labgate_core::clock::ManualClock;
use labgate_core::vault::{KeySettings, Vault};
use labgate_store::{Store, StoreOptions};
use labgate_testkit::TestDatabase;

pub struct Env {
    pub services: Services,
    pub clock: Arc<ManualClock>,
    pub settings: KeySettings,
    pub data_dir: tempfile::TempDir,
    pub database: TestDatabase,
}

pub const START_MS: i64 = 1_800_000_000_000;

pub async fn env() -> Env {
    let database = TestDatabase::new().await;
    let data_dir = tempfile::tempdir().unwrap();
    let settings = KeySettings {
        data_dir: data_dir.path().to_owned(),
        ..KeySettings::default()
    };
    let store = connect(&database).await;
    let vault = Arc::new(Vault::load(store.clone(), settings.clone()).await.unwrap());
    let clock = Arc::new(ManualClock::new(START_MS));
    let services = Services::new(store, vault, clock.clone());
    Env {
        services,
        clock,
        settings,
        data_dir,
        database,
    }
}

pub async fn connect(database: &TestDatabase) -> Store {
    let store = Store::connect(database.url(), &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}
