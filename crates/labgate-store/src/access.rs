//! Access sync: sources, sync runs with their log, and each run's snapshot of accounts, groups,
//! projects, direct memberships, shares and computed grants.

use crate::{Result, Store, StoreError, on_pool, page};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessSourceRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub connection_id: String,
    /// `instance` or `group`.
    pub scope_kind: String,
    /// The top-level group's full path for a group scope.
    pub scope_full_path: Option<String>,
    pub status: String,
    pub last_run_id: Option<String>,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessSyncRunRecord {
    pub id: String,
    pub source_id: String,
    pub status: String,
    pub progress_phase: Option<String>,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub request_count: i64,
    pub error: Option<String>,
    pub job_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// `full` or `targeted`.
    pub kind: String,
    /// JSON array of `{kind, id}` a targeted run reads again.
    pub targets: Option<String>,
}

/// A source the periodic sync may be due for, with when its latest full run was queued (0 when
/// it never had one).
#[derive(sqlx::FromRow)]
struct DueAccessSourceRow {
    #[sqlx(flatten)]
    source: AccessSourceRecord,
    last_full_run_at: i64,
}

/// A sync run's progress and outcome; `None` fields keep their stored value.
#[derive(Debug, Clone, Default)]
pub struct AccessSyncRunUpdate<'a> {
    pub status: Option<&'a str>,
    pub progress_phase: Option<&'a str>,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    pub request_count: Option<i64>,
    pub error: Option<&'a str>,
    pub job_id: Option<&'a str>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessSyncLogRecord {
    pub run_id: String,
    pub seq: i64,
    pub at: i64,
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessAccountRecord {
    pub gitlab_user_id: i64,
    pub username: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub is_admin: Option<i32>,
    pub email: Option<String>,
    /// JSON array.
    pub identities: String,
    pub last_sign_in_at: Option<i64>,
    pub last_activity_on: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessGroupRecord {
    pub gitlab_group_id: i64,
    pub parent_id: Option<i64>,
    pub full_path: String,
    pub name: String,
    pub visibility: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessProjectRecord {
    pub gitlab_project_id: i64,
    pub group_id: Option<i64>,
    pub full_path: String,
    pub name: String,
    pub visibility: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessMembershipRecord {
    pub gitlab_user_id: i64,
    pub resource_kind: String,
    pub resource_id: i64,
    pub access_level: i32,
    pub member_role_id: Option<i64>,
    pub member_role_name: Option<String>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessShareRecord {
    pub resource_kind: String,
    pub resource_id: i64,
    pub shared_with_group_id: i64,
    pub access_level: i32,
    pub expires_at: Option<i64>,
}

/// How many effective grants one account has in a run, and how many all accounts up to and
/// including it have (accounts in id order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessGrantTally {
    pub gitlab_user_id: i64,
    pub grants: i64,
    pub grants_through: i64,
}

/// A run's grants as a whole: the day they are computed for, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessGrantTotals {
    /// Milliseconds at 00:00 UTC of the day whose memberships and shares are in force.
    pub computed_on: i64,
    pub grants: i64,
}

/// Everything one sync run saw (its effective grants are computed from it when read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSnapshot {
    pub accounts: Vec<AccessAccountRecord>,
    pub groups: Vec<AccessGroupRecord>,
    pub projects: Vec<AccessProjectRecord>,
    pub memberships: Vec<AccessMembershipRecord>,
    pub shares: Vec<AccessShareRecord>,
}

const SOURCE_COLUMNS: &str = "id, tenant_id, name, connection_id, scope_kind, scope_full_path, status, \
     last_run_id, version, created_at, updated_at";
const RUN_COLUMNS: &str = "id, source_id, status, progress_phase, progress_done, progress_total, \
     request_count, error, job_id, created_at, started_at, finished_at, kind, targets";
pub(crate) const ACCOUNT_COLUMNS: &str = "gitlab_user_id, username, name, kind, state, is_admin, email, identities, \
     last_sign_in_at, last_activity_on";
pub(crate) const GROUP_COLUMNS: &str = "gitlab_group_id, parent_id, full_path, name, visibility";
pub(crate) const PROJECT_COLUMNS: &str = "gitlab_project_id, group_id, full_path, name, visibility";
pub(crate) const MEMBERSHIP_COLUMNS: &str = "gitlab_user_id, resource_kind, resource_id, access_level, member_role_id, \
     member_role_name, expires_at";
pub(crate) const SHARE_COLUMNS: &str =
    "resource_kind, resource_id, shared_with_group_id, access_level, expires_at";
/// Rows per multi-row INSERT: 11 columns at most, so a chunk (26,000 parameters) stays below
/// SQLite's 32,766 bound parameters while a large instance's snapshot takes few statements.
const INSERT_CHUNK: usize = 2_000;

/// Inserts `$rows` into `$table` in chunks on transaction `$tx`: the run id first, then what
/// `$body` binds of each row `$row` on the row builder `$builder`.
macro_rules! insert_rows {
    ($tx:expr, $table:literal, $columns:expr, $run_id:expr, $rows:expr, |$builder:ident, $row:ident| $body:block) => {
        for chunk in $rows.chunks(INSERT_CHUNK) {
            let mut query =
                sqlx::QueryBuilder::new(format!("INSERT INTO {} (run_id, {}) ", $table, $columns));
            query.push_values(chunk, |mut $builder, $row| {
                $builder.push_bind($run_id);
                $body
            });
            query.build().execute(&mut *$tx).await?;
        }
    };
}

/// A `LIKE` pattern matching `text` anywhere, case-insensitively (the column is lowered too),
/// with `\` escaping the pattern's own wildcards.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    // --- sources ------------------------------------------------------------------------------

    /// Inserts a source; a name taken in the tenant is [`StoreError::Conflict`], an unknown
    /// connection [`StoreError::ForeignKey`].
    pub async fn insert_access_source(&self, source: &AccessSourceRecord) -> Result<AccessSourceRecord> {
        let sql = format!(
            "INSERT INTO access_sources ({SOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {SOURCE_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessSourceRecord>(&sql)
            .bind(&source.id)
            .bind(&source.tenant_id)
            .bind(&source.name)
            .bind(&source.connection_id)
            .bind(&source.scope_kind)
            .bind(&source.scope_full_path)
            .bind(&source.status)
            .bind(&source.last_run_id)
            .bind(source.version)
            .bind(source.created_at)
            .bind(source.updated_at)
            .fetch_one(pool)
            .await?),
        )
    }

    pub async fn access_source(&self, tenant_id: &str, id: &str) -> Result<AccessSourceRecord> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM access_sources WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, AccessSourceRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// One page of the tenant's sources, oldest first, and how many there are.
    pub async fn list_access_sources(
        &self,
        tenant_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AccessSourceRecord>, u64)> {
        page!(
            self,
            AccessSourceRecord,
            columns = SOURCE_COLUMNS,
            from = "access_sources WHERE tenant_id = $1",
            order = "created_at, id",
            binds = [tenant_id],
            offset = offset,
            limit = limit
        )
    }

    /// Deletes a source with its runs, logs and snapshots. False when it does not exist.
    pub async fn delete_access_source(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let deleted = on_pool!(self, pool => sqlx::query("DELETE FROM access_sources WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(deleted > 0)
    }

    /// Sets a source's status, and its last run when `last_run_id` is given.
    pub async fn set_access_source_status(
        &self,
        id: &str,
        status: &str,
        last_run_id: Option<&str>,
        now: i64,
    ) -> Result<AccessSourceRecord> {
        let sql = format!(
            "UPDATE access_sources SET status = $1, last_run_id = COALESCE($2, last_run_id), updated_at = $3 \
             WHERE id = $4 RETURNING {SOURCE_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, AccessSourceRecord>(&sql)
            .bind(status)
            .bind(last_run_id)
            .bind(now)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The names of the sources that sync through one connection, so that a connection in use
    /// is not deleted from under them.
    pub async fn access_source_names_of_connection(
        &self,
        tenant_id: &str,
        connection_id: &str,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT name FROM access_sources WHERE tenant_id = $1 AND connection_id = $2 ORDER BY name",
        )
        .bind(tenant_id)
        .bind(connection_id)
        .fetch_all(pool)
        .await?))
    }

    // --- runs and their log -------------------------------------------------------------------

    pub async fn insert_access_sync_run(&self, run: &AccessSyncRunRecord) -> Result<AccessSyncRunRecord> {
        let sql = format!(
            "INSERT INTO access_sync_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING {RUN_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(&run.id)
            .bind(&run.source_id)
            .bind(&run.status)
            .bind(&run.progress_phase)
            .bind(run.progress_done)
            .bind(run.progress_total)
            .bind(run.request_count)
            .bind(&run.error)
            .bind(&run.job_id)
            .bind(run.created_at)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(&run.kind)
            .bind(&run.targets)
            .fetch_one(pool)
            .await?),
        )
    }

    /// A run of one of the tenant's sources; another tenant's run is [`StoreError::NotFound`].
    pub async fn access_sync_run(&self, tenant_id: &str, id: &str) -> Result<AccessSyncRunRecord> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM access_sync_runs WHERE id = $1 AND source_id IN \
             (SELECT id FROM access_sources WHERE tenant_id = $2)"
        );
        on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The runs of a source, newest first.
    pub async fn list_access_sync_runs(&self, source_id: &str) -> Result<Vec<AccessSyncRunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM access_sync_runs WHERE source_id = $1 ORDER BY created_at DESC, id DESC"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(source_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// The run of a source with this id, whatever its tenant: for the job that runs it.
    pub async fn access_sync_run_by_id(&self, id: &str) -> Result<AccessSyncRunRecord> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM access_sync_runs WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The source's run that is queued or syncing, if any (at most one is, by the service).
    pub async fn active_access_sync_run(&self, source_id: &str) -> Result<Option<AccessSyncRunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM access_sync_runs WHERE source_id = $1 \
             AND status IN ('queued', 'syncing') ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(source_id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Sources, after `after_id` in id order, whose latest full run was queued at or before
    /// `before` (or that never had one) and that have no run queued or syncing: the ones a
    /// periodic full sync may be due for. Answers each with its latest full run's creation time,
    /// 0 when there is none.
    pub async fn access_sources_due(
        &self,
        before: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<(AccessSourceRecord, i64)>> {
        let columns = SOURCE_COLUMNS
            .split(',')
            .map(|column| format!("s.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let last_full = "COALESCE((SELECT MAX(r.created_at) FROM access_sync_runs r \
             WHERE r.source_id = s.id AND r.kind = 'full'), 0)";
        let sql = format!(
            "SELECT {columns}, {last_full} AS last_full_run_at FROM access_sources s \
             WHERE s.id > $1 \
               AND NOT EXISTS (SELECT 1 FROM access_sync_runs q WHERE q.source_id = s.id \
                 AND q.status IN ('queued', 'syncing')) \
               AND {last_full} <= $2 \
             ORDER BY s.id LIMIT $3"
        );
        let rows = on_pool!(self, pool => sqlx::query_as::<_, DueAccessSourceRow>(&sql)
            .bind(after_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|row| (row.source, row.last_full_run_at))
            .collect())
    }

    /// The newest run of the source that succeeded before `before` (a run's creation time): the
    /// base a run's diff compares against.
    pub async fn previous_succeeded_access_sync_run(
        &self,
        source_id: &str,
        before: i64,
    ) -> Result<Option<AccessSyncRunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM access_sync_runs WHERE source_id = $1 AND status = 'succeeded' \
             AND created_at < $2 ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(source_id)
            .bind(before)
            .fetch_optional(pool)
            .await?),
        )
    }

    pub async fn update_access_sync_run(
        &self,
        id: &str,
        update: &AccessSyncRunUpdate<'_>,
    ) -> Result<AccessSyncRunRecord> {
        let sql = format!(
            "UPDATE access_sync_runs SET status = COALESCE($1, status), \
             progress_phase = COALESCE($2, progress_phase), progress_done = COALESCE($3, progress_done), \
             progress_total = COALESCE($4, progress_total), request_count = COALESCE($5, request_count), \
             error = COALESCE($6, error), job_id = COALESCE($7, job_id), \
             started_at = COALESCE($8, started_at), finished_at = COALESCE($9, finished_at) \
             WHERE id = $10 RETURNING {RUN_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, AccessSyncRunRecord>(&sql)
            .bind(update.status)
            .bind(update.progress_phase)
            .bind(update.progress_done)
            .bind(update.progress_total)
            .bind(update.request_count)
            .bind(update.error)
            .bind(update.job_id)
            .bind(update.started_at)
            .bind(update.finished_at)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// Appends a line to a run's log and answers its sequence number (1, 2, …). One run has one
    /// writer, its job, so numbering by the current maximum cannot race.
    pub async fn append_access_sync_log(
        &self,
        run_id: &str,
        at: i64,
        level: &str,
        message: &str,
    ) -> Result<i64> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "INSERT INTO access_sync_log (run_id, seq, at, level, message) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM access_sync_log WHERE run_id = $1 \
             RETURNING seq",
        )
        .bind(run_id)
        .bind(at)
        .bind(level)
        .bind(message)
        .fetch_one(pool)
        .await?))
    }

    /// A run's log, oldest line first.
    pub async fn access_sync_log(&self, run_id: &str) -> Result<Vec<AccessSyncLogRecord>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccessSyncLogRecord>(
            "SELECT run_id, seq, at, level, message FROM access_sync_log WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await?))
    }

    // --- snapshots ----------------------------------------------------------------------------

    /// Stores rows of a run's snapshot in one transaction: all of them or none (a row already
    /// stored is a conflict). A large snapshot is written in several parts; readers only look
    /// at a run's snapshot once the run has succeeded, so they never see a part.
    pub async fn write_access_snapshot(&self, run_id: &str, snapshot: &AccessSnapshot) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_rows!(tx, "access_accounts", ACCOUNT_COLUMNS, run_id, snapshot.accounts,
                |b, r| {
                    b.push_bind(r.gitlab_user_id)
                        .push_bind(r.username.clone())
                        .push_bind(r.name.clone())
                        .push_bind(r.kind.clone())
                        .push_bind(r.state.clone())
                        .push_bind(r.is_admin)
                        .push_bind(r.email.clone())
                        .push_bind(r.identities.clone())
                        .push_bind(r.last_sign_in_at)
                        .push_bind(r.last_activity_on);
                });
            insert_rows!(tx, "access_groups", GROUP_COLUMNS, run_id, snapshot.groups,
                |b, r| {
                    b.push_bind(r.gitlab_group_id)
                        .push_bind(r.parent_id)
                        .push_bind(r.full_path.clone())
                        .push_bind(r.name.clone())
                        .push_bind(r.visibility.clone());
                });
            insert_rows!(tx, "access_projects", PROJECT_COLUMNS, run_id, snapshot.projects,
                |b, r| {
                    b.push_bind(r.gitlab_project_id)
                        .push_bind(r.group_id)
                        .push_bind(r.full_path.clone())
                        .push_bind(r.name.clone())
                        .push_bind(r.visibility.clone());
                });
            insert_rows!(tx, "access_memberships", MEMBERSHIP_COLUMNS, run_id, snapshot.memberships,
                |b, r| {
                    b.push_bind(r.gitlab_user_id)
                        .push_bind(r.resource_kind.clone())
                        .push_bind(r.resource_id)
                        .push_bind(r.access_level)
                        .push_bind(r.member_role_id)
                        .push_bind(r.member_role_name.clone())
                        .push_bind(r.expires_at);
                });
            insert_rows!(tx, "access_shares", SHARE_COLUMNS, run_id, snapshot.shares,
                |b, r| {
                    b.push_bind(r.resource_kind.clone())
                        .push_bind(r.resource_id)
                        .push_bind(r.shared_with_group_id)
                        .push_bind(r.access_level)
                        .push_bind(r.expires_at);
                });
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes whatever part of a run's snapshot was stored (a failed or repeated write).
    pub async fn clear_access_snapshot(&self, run_id: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in [
                "access_grant_tallies",
                "access_grant_totals",
                "access_memberships",
                "access_shares",
                "access_projects",
                "access_groups",
                "access_accounts",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1"))
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A run's snapshot, each part in key order.
    pub async fn access_snapshot(&self, run_id: &str) -> Result<AccessSnapshot> {
        let groups =
            format!("SELECT {GROUP_COLUMNS} FROM access_groups WHERE run_id = $1 ORDER BY gitlab_group_id");
        let projects = format!(
            "SELECT {PROJECT_COLUMNS} FROM access_projects WHERE run_id = $1 ORDER BY gitlab_project_id"
        );
        let memberships = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM access_memberships WHERE run_id = $1 \
             ORDER BY gitlab_user_id, resource_kind, resource_id"
        );
        let shares = format!(
            "SELECT {SHARE_COLUMNS} FROM access_shares WHERE run_id = $1 \
             ORDER BY resource_kind, resource_id, shared_with_group_id"
        );
        let accounts = self.access_accounts(run_id).await?;
        Ok(on_pool!(self, pool => AccessSnapshot {
            accounts,
            groups: sqlx::query_as(&groups).bind(run_id).fetch_all(pool).await?,
            projects: sqlx::query_as(&projects).bind(run_id).fetch_all(pool).await?,
            memberships: sqlx::query_as(&memberships).bind(run_id).fetch_all(pool).await?,
            shares: sqlx::query_as(&shares).bind(run_id).fetch_all(pool).await?,
        }))
    }

    /// Every account of a run, by GitLab id: what comparing two runs needs of a snapshot besides
    /// the grants it computes.
    pub async fn access_accounts(&self, run_id: &str) -> Result<Vec<AccessAccountRecord>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM access_accounts WHERE run_id = $1 ORDER BY gitlab_user_id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessAccountRecord>(&sql)
            .bind(run_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// One page of a run's accounts by username, optionally those whose username, name or
    /// e-mail contains `search` (any case), and how many match.
    pub async fn list_access_accounts(
        &self,
        run_id: &str,
        search: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AccessAccountRecord>, u64)> {
        let pattern = search.map(contains_pattern).unwrap_or_default();
        page!(
            self,
            AccessAccountRecord,
            columns = ACCOUNT_COLUMNS,
            from = "access_accounts WHERE run_id = $1 AND ($2 = '' OR LOWER(username) LIKE $2 ESCAPE '\\' \
                    OR LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE $2 ESCAPE '\\')",
            order = "username, gitlab_user_id",
            binds = [run_id, pattern.as_str()],
            offset = offset,
            limit = limit
        )
    }

    /// Stores how many grants a run has, for the day they were computed, and each account's
    /// tally (`(GitLab user id, grants)` in id order, accounts with none left out) with its
    /// running total, in one transaction.
    pub async fn write_access_grant_tallies(
        &self,
        run_id: &str,
        computed_on: i64,
        tallies: &[(i64, i64)],
    ) -> Result<()> {
        let mut through = 0i64;
        let rows: Vec<AccessGrantTally> = tallies
            .iter()
            .filter(|(_, grants)| *grants > 0)
            .map(|(gitlab_user_id, grants)| {
                through += grants;
                AccessGrantTally {
                    gitlab_user_id: *gitlab_user_id,
                    grants: *grants,
                    grants_through: through,
                }
            })
            .collect();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO access_grant_totals (run_id, computed_on, grants) VALUES ($1, $2, $3)")
                .bind(run_id)
                .bind(computed_on)
                .bind(through)
                .execute(&mut *tx)
                .await?;
            insert_rows!(tx, "access_grant_tallies", "gitlab_user_id, grants, grants_through", run_id, rows,
                |b, r| {
                    b.push_bind(r.gitlab_user_id)
                        .push_bind(r.grants)
                        .push_bind(r.grants_through);
                });
            tx.commit().await?;
        });
        Ok(())
    }

    /// The day a run's grants are computed for and how many there are; `None` before the run
    /// stored its snapshot.
    pub async fn access_grant_totals(&self, run_id: &str) -> Result<Option<AccessGrantTotals>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccessGrantTotals>(
            "SELECT computed_on, grants FROM access_grant_totals WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await?))
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("Al"), "%al%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
