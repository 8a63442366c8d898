//! Opening the database and the vault: the start shared by every command that works on data.

use std::sync::Arc;

use anyhow::Context;
use labgate_core::Services;
use labgate_core::clock::SystemClock;
use labgate_core::vault::Vault;
use labgate_store::{Store, StoreOptions};
use secrecy::ExposeSecret;

use crate::config::Config;

pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        ..StoreOptions::default()
    };
    if config.database_url.expose_secret().starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    }
    let store = Store::connect(config.database_url.expose_secret(), &options)
        .await
        .context("cannot open the database named by LABGATE_DATABASE_URL")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

/// Opens the database and proves the keyring can unwrap every tenant key before anything else
/// happens.
pub async fn open(config: &Config) -> anyhow::Result<Services> {
    let store = open_store(config).await?;
    let vault = Vault::load(store.clone(), config.keys.clone()).await?;
    if vault.generated_root_key() {
        tracing::warn!(
            path = %config.keys.root_key_path().display(),
            "GENERATED A NEW ROOT KEY. Every credential labgate stores is encrypted under it: back this file up \
             now and keep it apart from database backups; without it the data cannot be decrypted. For \
             production set LABGATE_ROOT_KEYS from a secret store instead."
        );
    }
    Ok(Services::with_network_policy(
        store,
        Arc::new(vault),
        Arc::new(SystemClock),
        config.network_policy.clone(),
    ))
}
