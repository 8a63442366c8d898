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
        labgate_core::vault::create_private_dir(&config.data_dir)
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
    open_with(config, true).await
}

/// [`open`], saying whether a root key generated now is announced with the backup warning.
pub async fn open_with(config: &Config, announce_generated_key: bool) -> anyhow::Result<Services> {
    let store = open_store(config).await?;
    let vault = Vault::load(store.clone(), config.keys.clone()).await?;
    if announce_generated_key && vault.generated_root_key() {
        tracing::warn!(
            path = %config.keys.root_key_path().display(),
            "GENERATED A NEW ROOT KEY. Every credential labgate stores is encrypted under it: back this file up \
             now and keep it apart from database backups; without it the data cannot be decrypted. For \
             production set LABGATE_ROOT_KEYS from a secret store instead."
        );
    }
    Ok(Services::with_network(
        store,
        Arc::new(vault),
        Arc::new(SystemClock),
        config.network.clone(),
    )
    .with_site_url(config.site_url.as_deref())
    .with_default_instance(config.default_instance.clone())
    .with_proactive_refresh_days(config.proactive_refresh_days)
    .with_scan_settings(labgate_core::scanning::ScanSettings::new(
        config.scan_cache_dir.clone(),
        config.scan_cache_max_bytes,
        config.scan_parallelism,
    ))
    .with_access_sync_settings(labgate_core::access::AccessSyncSettings {
        max_rpm: config.access_sync_max_rpm,
        ..labgate_core::access::AccessSyncSettings::default()
    })
    .with_ui_session_lifetime(time::Duration::hours(i64::from(config.ui_session_hours))))
}

/// Where `labgate migrate` left the schema.
pub struct MigrationReport {
    /// The database, without credentials.
    pub database: String,
    pub version: i64,
    pub applied: usize,
    /// The newest migration this labgate knows.
    pub newest: i64,
}

/// Applies migrations (as every start does) and reports the schema version.
pub async fn migrate(config: &Config) -> anyhow::Result<MigrationReport> {
    let store = open_store(config).await?;
    let (applied, newest) = store.migration_status().await?;
    let report = MigrationReport {
        database: store.description().to_owned(),
        version: applied.last().copied().unwrap_or(0),
        applied: applied.len(),
        newest,
    };
    store.close().await;
    Ok(report)
}
