//! Opening the database and applying migrations.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{Pool, Result, Store, StoreError, on_pool};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool settings. SQLite serialises writers anyway; its readers benefit from a few connections
/// thanks to WAL mode.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// How long a SQLite writer waits for the lock held by another writer or process.
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

// Both trees carry the same numbering; the parity test checks they also end with the same schema.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/sqlite/0001_core.sql")),
    (
        2,
        "webhooks",
        include_str!("../migrations/sqlite/0002_webhooks.sql"),
    ),
    (
        3,
        "app_connections",
        include_str!("../migrations/sqlite/0003_app_connections.sql"),
    ),
    (
        4,
        "audit_occurrences",
        include_str!("../migrations/sqlite/0004_audit_occurrences.sql"),
    ),
    (
        5,
        "gitlab_instances",
        include_str!("../migrations/sqlite/0005_gitlab_instances.sql"),
    ),
    (
        6,
        "oauth_connections",
        include_str!("../migrations/sqlite/0006_oauth_connections.sql"),
    ),
    (
        7,
        "token_journal_jobs",
        include_str!("../migrations/sqlite/0007_token_journal_jobs.sql"),
    ),
    (
        8,
        "connection_usage",
        include_str!("../migrations/sqlite/0008_connection_usage.sql"),
    ),
    (
        9,
        "ui_users_sessions",
        include_str!("../migrations/sqlite/0009_ui_users_sessions.sql"),
    ),
    (
        10,
        "connect_sessions",
        include_str!("../migrations/sqlite/0010_connect_sessions.sql"),
    ),
    (
        11,
        "secrets",
        include_str!("../migrations/sqlite/0011_secrets.sql"),
    ),
    (
        12,
        "secret_syncs",
        include_str!("../migrations/sqlite/0012_secret_syncs.sql"),
    ),
    (
        13,
        "secret_scanning",
        include_str!("../migrations/sqlite/0013_secret_scanning.sql"),
    ),
    (
        14,
        "scan_push_hooks",
        include_str!("../migrations/sqlite/0014_scan_push_hooks.sql"),
    ),
    (
        15,
        "oauth_token_hashes",
        include_str!("../migrations/sqlite/0015_oauth_token_hashes.sql"),
    ),
    (
        16,
        "access_sync",
        include_str!("../migrations/sqlite/0016_access_sync.sql"),
    ),
    (
        17,
        "access_sync_kinds",
        include_str!("../migrations/sqlite/0017_access_sync_kinds.sql"),
    ),
    (
        18,
        "access_provisioning",
        include_str!("../migrations/sqlite/0018_access_provisioning.sql"),
    ),
    (
        19,
        "access_hooks",
        include_str!("../migrations/sqlite/0019_access_hooks.sql"),
    ),
    (
        20,
        "access_grants_on_read",
        include_str!("../migrations/sqlite/0020_access_grants_on_read.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/postgres/0001_core.sql")),
    (
        2,
        "webhooks",
        include_str!("../migrations/postgres/0002_webhooks.sql"),
    ),
    (
        3,
        "app_connections",
        include_str!("../migrations/postgres/0003_app_connections.sql"),
    ),
    (
        4,
        "audit_occurrences",
        include_str!("../migrations/postgres/0004_audit_occurrences.sql"),
    ),
    (
        5,
        "gitlab_instances",
        include_str!("../migrations/postgres/0005_gitlab_instances.sql"),
    ),
    (
        6,
        "oauth_connections",
        include_str!("../migrations/postgres/0006_oauth_connections.sql"),
    ),
    (
        7,
        "token_journal_jobs",
        include_str!("../migrations/postgres/0007_token_journal_jobs.sql"),
    ),
    (
        8,
        "connection_usage",
        include_str!("../migrations/postgres/0008_connection_usage.sql"),
    ),
    (
        9,
        "ui_users_sessions",
        include_str!("../migrations/postgres/0009_ui_users_sessions.sql"),
    ),
    (
        10,
        "connect_sessions",
        include_str!("../migrations/postgres/0010_connect_sessions.sql"),
    ),
    (
        11,
        "secrets",
        include_str!("../migrations/postgres/0011_secrets.sql"),
    ),
    (
        12,
        "secret_syncs",
        include_str!("../migrations/postgres/0012_secret_syncs.sql"),
    ),
    (
        13,
        "secret_scanning",
        include_str!("../migrations/postgres/0013_secret_scanning.sql"),
    ),
    (
        14,
        "scan_push_hooks",
        include_str!("../migrations/postgres/0014_scan_push_hooks.sql"),
    ),
    (
        15,
        "oauth_token_hashes",
        include_str!("../migrations/postgres/0015_oauth_token_hashes.sql"),
    ),
    (
        16,
        "access_sync",
        include_str!("../migrations/postgres/0016_access_sync.sql"),
    ),
    (
        17,
        "access_sync_kinds",
        include_str!("../migrations/postgres/0017_access_sync_kinds.sql"),
    ),
    (
        18,
        "access_provisioning",
        include_str!("../migrations/postgres/0018_access_provisioning.sql"),
    ),
    (
        19,
        "access_hooks",
        include_str!("../migrations/postgres/0019_access_hooks.sql"),
    ),
    (
        20,
        "access_grants_on_read",
        include_str!("../migrations/postgres/0020_access_grants_on_read.sql"),
    ),
];

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (created if missing) or
    /// `postgres://…`. A bare path or another scheme is refused so a typo never creates an empty
    /// database somewhere unexpected.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Self::connect_sqlite(url, options).await,
            Some("postgres" | "postgresql") => Self::connect_postgres(url, options).await,
            _ => Err(StoreError::Config(
                "LABGATE_DATABASE_URL must start with sqlite:// or postgres://".to_owned(),
            )),
        }
    }

    async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<Store> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("LABGATE_DATABASE_URL is not a valid sqlite:// URL".to_owned()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(options.sqlite_busy_timeout)
            // 32 MiB of page cache a connection instead of SQLite's 2 MiB, used only as pages are
            // touched: an access snapshot's millions of grant rows land in two indexes, one of
            // them in resource order, and with the small cache each insert there read its page
            // back from the file.
            .pragma("cache_size", "-32768");
        let file = connect.get_filename().to_path_buf();
        let description = format!("sqlite:{}", file.display());
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Store {
            pool: Pool::Sqlite(pool),
            description: description.into(),
            file: Some(file.into()),
        })
    }

    async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<Store> {
        let connect = PgConnectOptions::from_str(url).map_err(|_| {
            StoreError::Config("LABGATE_DATABASE_URL is not a valid postgres:// URL".to_owned())
        })?;
        // Never describe the database with its password.
        let description = format!(
            "postgres://{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or_default()
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            description: description.into(),
            file: None,
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Where the data lives, without credentials: safe to print.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Applies every pending migration. Refuses a database migrated by a newer labgate.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => migrator(SQLITE_MIGRATIONS).run(pool).await?,
            Pool::Postgres(pool) => migrator(POSTGRES_MIGRATIONS).run(pool).await?,
        }
        self.restrict_files();
        Ok(())
    }

    /// Makes an embedded database and its journal files readable by their owner only. They hold
    /// the wrapped keys and every sealed credential, and SQLite creates them with the umask's
    /// mode. Done after migrations, when the write-ahead log exists, so databases made before
    /// this check are tightened too.
    fn restrict_files(&self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Some(database) = &self.file else {
                return;
            };
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = database.as_os_str().to_owned();
                name.push(suffix);
                let path = std::path::PathBuf::from(name);
                // A link is left alone: its target is not necessarily labgate's to change.
                let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !metadata.is_file() || metadata.permissions().mode() & 0o077 == 0 {
                    continue;
                }
                if let Err(error) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(
                        path = %path.display(),
                        %error,
                        "cannot restrict the database file to its owner; other users may read it"
                    );
                }
            }
        }
    }

    /// Versions applied so far, and the newest this build knows.
    pub async fn migration_status(&self) -> Result<(Vec<i64>, i64)> {
        let newest = SQLITE_MIGRATIONS
            .iter()
            .map(|(version, _, _)| *version)
            .max()
            .unwrap_or(0);
        let applied: Vec<i64> = on_pool!(self, pool => {
            let exists: Option<(i64,)> = match self.backend() {
                Backend::Sqlite => sqlx::query_as(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_optional(pool)
                .await?,
                Backend::Postgres => sqlx::query_as(
                    "SELECT 1::BIGINT FROM information_schema.tables WHERE table_name = '_sqlx_migrations' \
                     AND table_schema = current_schema()",
                )
                .fetch_optional(pool)
                .await?,
            };
            if exists.is_none() {
                Vec::new()
            } else {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(pool)
                    .await?
            }
        });
        Ok((applied, newest))
    }

    /// Cheap round trip used by readiness probes.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}
