//! labgate's storage layer. Every SQL statement of labgate lives in this crate.
//!
//! One [`Store`] serves both backends. Portable statements are written once and compiled for
//! each pool by [`on_pool!`]; statements that need backend-specific SQL (row claiming with
//! `FOR UPDATE SKIP LOCKED`, pragmas) match on the backend explicitly, next to each other.
//! Times are milliseconds since the Unix epoch, passed in by the caller so that the domain owns
//! the clock.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access;
mod access_hooks;
mod access_provisioning;
mod access_reports;
mod api_keys;
mod app_connections;
mod audit;
mod changes;
mod connect;
mod connect_sessions;
mod error;
mod gitlab_instances;
mod jobs;
mod scan_hooks;
mod schema;
mod secret_scanning;
mod secret_syncs;
mod secrets;
mod tenants;
mod users;
mod vault_items;
mod webhooks;

pub use access::{
    AccessAccountRecord, AccessGrantTally, AccessGrantTotals, AccessGroupRecord, AccessMembershipRecord,
    AccessProjectRecord, AccessShareRecord, AccessSnapshot, AccessSourceRecord, AccessSyncLogRecord,
    AccessSyncRunRecord, AccessSyncRunUpdate,
};
pub use access_hooks::{AccessHookRecord, AccessHookSecretRecord, AccessPendingTargetRecord};
pub use access_provisioning::{ProvisioningOperationRecord, ProvisioningStepRecord, ProvisioningStepUpdate};
pub use access_reports::AccessResourceRecord;
pub use api_keys::{ApiKeyRecord, AuthenticatedKey, NewApiKey};
pub use app_connections::{
    ConnectionEventRecord, ConnectionFilter, ConnectionRecord, ConnectionUse, JournalApply, JournalRecord,
    NewJournalEntry, OAuthStateRecord, RefreshHold, SealedItem,
};
pub use audit::{AuditFilter, AuditRecord, FOLDED_AUDIT_BATCH, FoldedAuditEntry, NewAuditEntry};
pub use changes::{ConnectionChanges, ConnectionNotice};
pub use connect::{Backend, StoreOptions};
pub use connect_sessions::{ConnectSessionClaim, ConnectSessionRecord};
pub use error::{Result, StoreError};
pub use gitlab_instances::InstanceRecord;
pub use jobs::{JobFilter, JobRecord, JobStateCount, NewJob};
pub use scan_hooks::ScanHookRecord;
pub use schema::{ColumnInfo, IndexInfo, SchemaInventory};
pub use secret_scanning::{
    FindingFilter, FindingLocationRecord, FindingRecord, PlacedFindingLocationRecord, ScanDataSourceRecord,
    ScanResourceRecord, ScanRunRecord, ScanRunUpdate,
};
pub use secret_syncs::{
    SecretSyncRecord, SyncActivity, SyncResultRecord, SyncStatusUpdate, SyncedVariableRecord,
};
pub use secrets::{
    NewSecretVersion, SECRET_VALUE_FIELD, SECRET_VERSIONS_TABLE, SecretEnvironmentRecord,
    SecretProjectRecord, SecretRecord, SecretValueRecord, SecretVersionRecord, SecretWrite,
};
pub use tenants::{NewTenant, NewTenantKeys, TenantKeyRecord, TenantKeyRewrap, TenantRecord};
pub use users::{NewSession, NewUser, SessionRecord, UserLoginRecord, UserRecord};
pub use vault_items::{VaultItemKey, VaultItemRecord};
pub use webhooks::{DeliveryAttempt, DeliveryRecord, NewDelivery, NewWebhook, WebhookRecord};

use sqlx::{PgPool, SqlitePool};

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend is in use. The body
/// is compiled once per backend, so it must only use SQL both understand.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// One page of `$record` rows, and how many rows match in all. Both queries share the
/// `FROM … WHERE …` clause `$from`; `binds` fill its parameters `$1…$n` (each expression is
/// bound to both queries), and the page's LIMIT and OFFSET take the next two.
macro_rules! page {
    ($store:expr, $record:ty, columns = $columns:expr, from = $from:expr, order = $order:expr,
     binds = [$($bind:expr),* $(,)?], offset = $offset:expr, limit = $limit:expr) => {{
        let (offset, limit) = $crate::page_bounds($offset, $limit);
        let params: usize = 0 $(+ { let _ = stringify!($bind); 1 })*;
        let select = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT ${} OFFSET ${}",
            $columns,
            $from,
            $order,
            params + 1,
            params + 2
        );
        let count = format!("SELECT COUNT(*) FROM {}", $from);
        $crate::on_pool!($store, pool => {
            let rows = sqlx::query_as::<_, $record>(&select)
                $(.bind($bind))*
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(&count)$(.bind($bind))*.fetch_one(pool).await?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
    }};
}
pub(crate) use page;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the database. Cheap to clone (every service holds one, and the HTTP state is
/// cloned per request): clones share the pool and the descriptions.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    description: std::sync::Arc<str>,
    /// The database file of an embedded (SQLite) store.
    file: Option<std::sync::Arc<std::path::Path>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.description)
            .finish()
    }
}

/// Opens a transaction that will write. SQLite takes its write lock at `BEGIN IMMEDIATE`, so two
/// writers queue on the busy timeout instead of failing when one upgrades a read lock.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> std::result::Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// `(…)` with the placeholders of one row of a multi-row statement, the statement's parameters
/// before it numbering `before`: `$n` on PostgreSQL, and on SQLite anonymous `?`s, bound in
/// order. SQLite finds the index of a named `$n` by walking every name of the statement, which
/// makes binding a statement of n parameters cost n² (a batch of a few thousand took
/// milliseconds); anonymous parameters skip that.
pub(crate) fn row_placeholders(backend: Backend, before: usize, count: usize) -> String {
    let placeholders: Vec<String> = (1..=count)
        .map(|column| match backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${}", before + column),
        })
        .collect();
    format!("({})", placeholders.join(", "))
}

/// Builds an `IN (...)`-free `LIMIT/OFFSET` pair that fits both backends' integer types.
pub(crate) fn page_bounds(offset: u64, limit: u32) -> (i64, i64) {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    (offset, i64::from(limit))
}
