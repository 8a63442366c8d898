//! The job queue: leases with heartbeats, retries with backoff, dedupe keys, progress.

use crate::page;
use crate::{Pool, Result, Store, on_pool};

const JOB_COLUMNS: &str = "id, tenant_id, kind, payload, state, run_at, attempts, max_attempts, lease_owner, \
     lease_expires_at, dedupe_key, progress_done, progress_total, progress_phase, last_error, created_at, \
     updated_at, finished_at";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
    pub tenant_id: Option<String>,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub run_at: i64,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub dedupe_key: Option<String>,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub progress_phase: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    /// JSON text. Never a secret: payloads name resources, the vault holds credentials.
    pub payload: &'a str,
    pub run_at: i64,
    pub max_attempts: i32,
    /// At most one queued or running job carries a given key.
    pub dedupe_key: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter<'a> {
    pub tenant_id: Option<&'a str>,
    pub state: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobStateCount {
    pub state: String,
    pub count: i64,
}

impl Store {
    /// Queues a job. When a live job already holds the dedupe key, nothing is inserted and that
    /// job's id is returned with `false`.
    pub async fn enqueue_job(&self, job: &NewJob<'_>) -> Result<(String, bool)> {
        // The live job holding the key may finish between the refused insert and the look-up; a
        // second insert then succeeds, so a couple of rounds always settle.
        for _ in 0..3 {
            let inserted: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
                "INSERT INTO jobs (id, tenant_id, kind, payload, state, run_at, attempts, max_attempts, dedupe_key, \
                 progress_done, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, 0, $6, $7, 0, $8, $8) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(job.id)
            .bind(job.tenant_id)
            .bind(job.kind)
            .bind(job.payload)
            .bind(job.run_at)
            .bind(job.max_attempts)
            .bind(job.dedupe_key)
            .bind(job.now)
            .fetch_optional(pool)
            .await?);
            if let Some(id) = inserted {
                return Ok((id, true));
            }
            let Some(key) = job.dedupe_key else {
                return Err(crate::StoreError::Conflict {
                    what: format!("job {}", job.id),
                });
            };
            let existing: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
                "SELECT id FROM jobs WHERE dedupe_key = $1 AND state IN ('queued', 'running')",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?);
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        Err(crate::StoreError::Conflict {
            what: format!("job dedupe key {:?}", job.dedupe_key),
        })
    }

    /// Inserts a job already running under `owner`'s lease until `lease_until`, as its first
    /// attempt: work this process has started itself, which no worker may claim while the lease
    /// is renewed, and which any worker takes over once it lapses.
    pub async fn insert_held_job(&self, job: &NewJob<'_>, owner: &str, lease_until: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO jobs (id, tenant_id, kind, payload, state, run_at, attempts, max_attempts, lease_owner, \
             lease_expires_at, dedupe_key, progress_done, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'running', $5, 1, $6, $7, $8, $9, 0, $10, $10)",
        )
        .bind(job.id)
        .bind(job.tenant_id)
        .bind(job.kind)
        .bind(job.payload)
        .bind(job.run_at)
        .bind(job.max_attempts)
        .bind(owner)
        .bind(lease_until)
        .bind(job.dedupe_key)
        .bind(job.now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Brings a queued job holding `dedupe_key` forward to `run_at` if it was due later.
    pub async fn advance_job(&self, dedupe_key: &str, run_at: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET run_at = $1, updated_at = $1 WHERE dedupe_key = $2 AND state = 'queued' AND run_at > $1",
        )
        .bind(run_at)
        .bind(dedupe_key)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Takes the lease on the next due job: a queued job whose time has come, or a running job
    /// whose worker stopped renewing its lease. Each claim counts as an attempt.
    pub async fn claim_job(&self, owner: &str, now: i64, lease_ms: i64) -> Result<Option<JobRecord>> {
        let lease_until = now.saturating_add(lease_ms);
        let job = match &self.pool {
            Pool::Sqlite(pool) => {
                // A single UPDATE takes SQLite's write lock before it reads, so the pick and the
                // lease are atomic across processes sharing the file.
                let sql = format!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
                     attempts = attempts + 1, updated_at = $3 WHERE id = (SELECT id FROM jobs WHERE \
                     (state = 'queued' AND run_at <= $3) OR (state = 'running' AND lease_expires_at < $3) \
                     ORDER BY run_at, id LIMIT 1) RETURNING {JOB_COLUMNS}"
                );
                sqlx::query_as::<_, JobRecord>(&sql)
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                // SKIP LOCKED lets any number of replicas claim side by side without waiting on
                // one another or taking the same row.
                let sql = format!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
                     attempts = attempts + 1, updated_at = $3 WHERE id = (SELECT id FROM jobs WHERE \
                     (state = 'queued' AND run_at <= $3) OR (state = 'running' AND lease_expires_at < $3) \
                     ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLUMNS}"
                );
                sqlx::query_as::<_, JobRecord>(&sql)
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(job)
    }

    /// Extends the lease; `false` means the lease was lost (expired and taken by another worker).
    pub async fn renew_job_lease(&self, id: &str, owner: &str, now: i64, lease_ms: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4 \
             AND state = 'running'",
        )
        .bind(now.saturating_add(lease_ms))
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    pub async fn set_job_progress(
        &self,
        id: &str,
        owner: &str,
        done: i64,
        total: Option<i64>,
        phase: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET progress_done = $1, progress_total = $2, progress_phase = $3, updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
        )
        .bind(done)
        .bind(total)
        .bind(phase)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Marks a held job done. `false` means the lease had been lost and the result is not recorded.
    pub async fn complete_job(&self, id: &str, owner: &str, now: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET state = 'succeeded', finished_at = $1, updated_at = $1, lease_expires_at = NULL, \
             last_error = NULL WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Records a failed attempt: queued again at `retry_at`, or failed for good when `None`.
    pub async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let affected = match retry_at {
            Some(retry_at) => on_pool!(self, pool => sqlx::query(
                "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, lease_expires_at = NULL, \
                 updated_at = $3 WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            )
            .bind(retry_at)
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()),
            None => on_pool!(self, pool => sqlx::query(
                "UPDATE jobs SET state = 'failed', finished_at = $1, last_error = $2, lease_expires_at = NULL, \
                 updated_at = $1 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(now)
            .bind(error)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()),
        };
        Ok(affected == 1)
    }

    /// One job; with a tenant, only that tenant's.
    pub async fn job(&self, tenant_id: Option<&str>, id: &str) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JobRecord>(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?))
    }

    /// A page of jobs, newest first, and the number matching the filter.
    pub async fn list_jobs(&self, filter: &JobFilter<'_>) -> Result<(Vec<JobRecord>, u64)> {
        page!(
            self,
            JobRecord,
            columns = JOB_COLUMNS,
            from = "jobs WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR state = $2) \
                    AND ($3 IS NULL OR kind = $3)",
            order = "created_at DESC, id DESC",
            binds = [filter.tenant_id, filter.state, filter.kind],
            offset = filter.offset,
            limit = filter.limit
        )
    }

    pub async fn count_jobs_by_state(&self) -> Result<Vec<JobStateCount>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JobStateCount>(
            "SELECT state, COUNT(*) AS count FROM jobs GROUP BY state ORDER BY state",
        )
        .fetch_all(pool)
        .await?))
    }

    /// Deletes jobs that finished before `before`; returns how many went.
    pub async fn prune_finished_jobs(&self, before: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }
}
