//! The job queue: enqueueing with dedupe keys, claiming with leases renewed by heartbeat,
//! progress, retry timing, outcomes, retention, and the tenant-scoped views the API shows. The
//! worker runs jobs through this queue only; work this process starts in a task of its own is
//! held as a job too (`detached`), so that a worker takes it over if the process dies.

mod detached;

use std::sync::Arc;

pub use detached::{Holder, Settled};
pub use labgate_proto::jobs::JobState;
use labgate_proto::jobs::{JobList, JobListQuery, JobProgress, JobView};
use labgate_store::{JobFilter, JobRecord, NewJob, Store};
use time::{Duration, OffsetDateTime};

use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{JobId, TenantId};
use crate::rows::{
    Parsed, StoredValueError, ms, opt_time, opt_unsigned, signed, signed32, text, time, unsigned,
};
use crate::timefmt::{format_opt, format_time};
use crate::{CoreError, Result};

pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

labgate_proto::text_enum! {
    /// What a job does; each kind has one handler in the worker.
    pub enum JobKind {
        /// Applies the retention settings. Recurring.
        MaintenancePrune = "maintenance.prune",
        /// Checks every connection at GitLab. Recurring.
        ConnectionsHealth = "connections.health",
        /// Refreshes OAuth connections whose proactive refresh is due. Recurring.
        ConnectionsRefresh = "connections.refresh",
        /// Sends due webhook deliveries. Recurring while deliveries wait.
        WebhooksDeliver = "webhooks.deliver",
        /// Proves that workers pick up and finish work.
        DiagnosticProbe = "diagnostic.probe",
        /// Rotates one connection's token at GitLab. Started and held by the process that took
        /// the request; a worker takes it over only when that process died, and then finishes it
        /// from the token journal without calling GitLab again.
        ConnectionRotate = "connection.rotate",
        /// An OAuth refresh asked for through the API, held by the process running it; taken
        /// over from the journal if that process dies.
        ConnectionRefresh = "connection.refresh",
        /// Writes one secret sync's folder to its GitLab destination. One per sync at a time.
        SecretSyncRun = "secret-sync.run",
        /// Imports one secret sync's GitLab variables into its folder.
        SecretSyncImport = "secret-sync.import",
        /// Deletes the variables one secret sync wrote at GitLab.
        SecretSyncRemove = "secret-sync.remove",
        /// Fetches and scans the repositories of one scan run of a secret scanning data source.
        SecretScan = "secret-scanning.scan",
        /// Queues the periodic full scans of data sources with automatic scans on. Recurring.
        SecretScanSchedule = "secret-scanning.schedule",
        /// Scans what one push to a repository brought in (from a push webhook).
        SecretScanPush = "secret-scanning.push",
        /// Removes at GitLab the push webhooks of a deleted data source that GitLab failed to
        /// remove at once; retried until they are gone.
        SecretScanHooksRemove = "secret-scanning.hooks-remove",
        /// Reads one access sync run's GitLab scope (all of it, or the groups and projects a
        /// targeted run names) and stores its snapshot with the effective grants.
        AccessSync = "access.sync",
        /// Queues the periodic full syncs of access sources. Recurring.
        AccessSchedule = "access.schedule",
        /// Removes at GitLab the access webhooks of a deleted access source that GitLab failed
        /// to remove at once; retried until they are gone.
        AccessHooksRemove = "access.hooks-remove",
    }
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub tenant_id: Option<TenantId>,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    /// When to run; `None` runs as soon as a worker is free.
    pub run_at: Option<OffsetDateTime>,
    pub max_attempts: u32,
    /// Keeps recurring jobs single however many replicas schedule them.
    pub dedupe_key: Option<String>,
}

impl JobSpec {
    pub fn new(kind: JobKind, payload: serde_json::Value) -> JobSpec {
        JobSpec {
            tenant_id: None,
            kind,
            payload,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }

    /// A recurring job: its kind is its dedupe key, so one is queued however many replicas ask.
    pub fn recurring(kind: JobKind) -> JobSpec {
        JobSpec {
            dedupe_key: Some(kind.as_str().to_owned()),
            ..JobSpec::new(kind, serde_json::json!({}))
        }
    }
}

/// How far a job has got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub phase: Option<String>,
}

/// A queued, running or finished job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: OffsetDateTime,
    /// Claims so far; each claim counts as an attempt.
    pub attempts: u32,
    pub max_attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub dedupe_key: Option<String>,
    pub progress: Progress,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

impl Job {
    /// Whether a worker or process holds the job at `now` under a lease that has not lapsed.
    pub fn is_held_at(&self, now: OffsetDateTime) -> bool {
        self.state == JobState::Running && self.lease_expires_at.is_some_and(|until| until > now)
    }
}

impl TryFrom<JobRecord> for Job {
    type Error = StoredValueError;

    fn try_from(row: JobRecord) -> Parsed<Job> {
        Ok(Job {
            id: JobId::from_stored(row.id),
            tenant_id: row.tenant_id.map(TenantId::from_stored),
            kind: text("jobs.kind", &row.kind)?,
            payload: serde_json::from_str(&row.payload).map_err(|_| StoredValueError {
                column: "jobs.payload",
                value: "(not JSON)".to_owned(),
            })?,
            state: JobState::parse(&row.state).ok_or_else(|| StoredValueError {
                column: "jobs.state",
                value: row.state.clone(),
            })?,
            run_at: time("jobs.run_at", row.run_at)?,
            attempts: unsigned("jobs.attempts", row.attempts)?,
            max_attempts: unsigned("jobs.max_attempts", row.max_attempts)?,
            lease_owner: row.lease_owner,
            lease_expires_at: opt_time("jobs.lease_expires_at", row.lease_expires_at)?,
            dedupe_key: row.dedupe_key,
            progress: Progress {
                done: unsigned("jobs.progress_done", row.progress_done)?,
                total: opt_unsigned("jobs.progress_total", row.progress_total)?,
                phase: row.progress_phase,
            },
            last_error: row.last_error,
            created_at: time("jobs.created_at", row.created_at)?,
            updated_at: time("jobs.updated_at", row.updated_at)?,
            finished_at: opt_time("jobs.finished_at", row.finished_at)?,
        })
    }
}

/// `duration` spread by up to ± `fraction` of itself (see [`labgate_gitlab::jittered`], the one
/// jitter labgate has), so that jobs scheduled or failing together do not run together again.
pub fn jittered(duration: Duration, fraction: f64) -> Duration {
    match std::time::Duration::try_from(duration) {
        Ok(duration) => {
            Duration::try_from(labgate_gitlab::jittered(duration, fraction)).unwrap_or(Duration::MAX)
        }
        // Negative durations have nothing to spread.
        Err(_) => duration,
    }
}

/// The delay before attempt `attempt + 1`: exponential from `base`, capped, with ±50% jitter.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let nominal = base.saturating_mul(1_i32 << exponent).min(cap);
    jittered(nominal, 0.5).max(Duration::MILLISECOND)
}

pub fn job_view(job: Job) -> JobView {
    JobView {
        id: job.id.into(),
        kind: job.kind.as_str().to_owned(),
        state: job.state,
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        run_at: format_time(job.run_at),
        progress: JobProgress {
            done: job.progress.done,
            total: job.progress.total,
            phase: job.progress.phase,
        },
        last_error: job.last_error,
        dedupe_key: job.dedupe_key,
        created_at: format_time(job.created_at),
        updated_at: format_time(job.updated_at),
        finished_at: format_opt(job.finished_at),
    }
}

/// Why a job attempt ended without success, as the queue records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Queued again at the given time.
    RetryAt(OffsetDateTime),
    /// Failed for good.
    Final,
}

#[derive(Clone)]
pub struct JobQueue {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Who holds the jobs this process runs in tasks of its own.
    holder: Arc<Holder>,
}

impl JobQueue {
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>) -> JobQueue {
        JobQueue {
            store,
            clock,
            holder: Arc::new(Holder::default()),
        }
    }

    /// The same queue, holding the jobs this process starts itself as `holder` says.
    #[must_use]
    pub fn with_holder(mut self, holder: Holder) -> JobQueue {
        self.holder = Arc::new(holder);
        self
    }

    /// Who holds the jobs this process starts itself.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Queues a job; returns its id and whether it is new (false: a live job held the dedupe key).
    pub async fn enqueue(&self, spec: &JobSpec) -> Result<(JobId, bool)> {
        let now = self.clock.now();
        let id = JobId::generate();
        let payload = spec.payload.to_string();
        let (id, created) = self
            .store
            .enqueue_job(&NewJob {
                id: id.as_str(),
                tenant_id: spec.tenant_id.as_ref().map(TenantId::as_str),
                kind: spec.kind.as_str(),
                payload: &payload,
                run_at: ms(spec.run_at.unwrap_or(now)),
                max_attempts: signed32(spec.max_attempts.max(1)),
                dedupe_key: spec.dedupe_key.as_deref(),
                now: ms(now),
            })
            .await?;
        Ok((JobId::from_stored(id), created))
    }

    /// Makes sure the job `spec` describes runs now: queues it, or brings forward the queued job
    /// holding its dedupe key. A running holder picks up new work before it finishes.
    pub async fn wake(&self, spec: &JobSpec) -> Result<()> {
        let (_, created) = self.enqueue(spec).await?;
        if !created && let Some(key) = &spec.dedupe_key {
            self.store.advance_job(key, ms(self.clock.now())).await?;
        }
        Ok(())
    }

    /// Takes the lease on the next due job for `owner`, for `lease`. A job whose stored row
    /// cannot be read (a kind this labgate does not know, say) is failed for good on the spot,
    /// with the reason, and the next one is looked at.
    pub async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<Job>> {
        loop {
            let now = self.clock.now();
            let Some(row) = self
                .store
                .claim_job(
                    owner,
                    ms(now),
                    lease.whole_milliseconds().try_into().unwrap_or(i64::MAX),
                )
                .await?
            else {
                return Ok(None);
            };
            let id = row.id.clone();
            match Job::try_from(row) {
                Ok(job) => return Ok(Some(job)),
                Err(error) => {
                    tracing::error!(job_id = %id, error = %error, "a claimed job cannot be read; it is failed");
                    self.store
                        .fail_job(&id, owner, &format!("the job cannot run: {error}"), None, ms(now))
                        .await?;
                }
            }
        }
    }

    /// Extends a held lease; false when it was lost (expired and taken by another worker).
    pub async fn heartbeat(&self, job: &JobId, owner: &str, lease: Duration) -> Result<bool> {
        Ok(self
            .store
            .renew_job_lease(
                job.as_str(),
                owner,
                ms(self.clock.now()),
                lease.whole_milliseconds().try_into().unwrap_or(i64::MAX),
            )
            .await?)
    }

    /// Records progress of a held job; the API, the CLI and the UI show it.
    pub async fn progress(&self, job: &JobId, owner: &str, progress: &Progress) -> Result<bool> {
        Ok(self
            .store
            .set_job_progress(
                job.as_str(),
                owner,
                signed(progress.done),
                progress.total.map(signed),
                progress.phase.as_deref(),
                ms(self.clock.now()),
            )
            .await?)
    }

    /// Marks a held job done; false when the lease had been lost and nothing was recorded.
    pub async fn complete(&self, job: &JobId, owner: &str) -> Result<bool> {
        Ok(self
            .store
            .complete_job(job.as_str(), owner, ms(self.clock.now()))
            .await?)
    }

    /// Records a failed attempt of a held job; false when the lease had been lost.
    pub async fn fail(&self, job: &JobId, owner: &str, error: &str, failure: Failure) -> Result<bool> {
        let retry_at = match failure {
            Failure::RetryAt(at) => Some(ms(at)),
            Failure::Final => None,
        };
        Ok(self
            .store
            .fail_job(job.as_str(), owner, error, retry_at, ms(self.clock.now()))
            .await?)
    }

    /// Deletes jobs that finished more than `retention` ago; returns how many went.
    pub async fn prune(&self, retention: Duration) -> Result<u64> {
        Ok(self
            .store
            .prune_finished_jobs(ms(self.clock.now() - retention))
            .await?)
    }

    /// How many jobs are in each state, for metrics.
    pub async fn counts_by_state(&self) -> Result<Vec<(JobState, u64)>> {
        self.store
            .count_jobs_by_state()
            .await?
            .into_iter()
            .map(|row| {
                let state = JobState::parse(&row.state).ok_or_else(|| StoredValueError {
                    column: "jobs.state",
                    value: row.state.clone(),
                })?;
                Ok((state, unsigned("COUNT(jobs)", row.count)?))
            })
            .collect()
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<JobView> {
        principal.require(Access::Read)?;
        let id = JobId::parse(id).ok_or(CoreError::NotFound("job"))?;
        let row = self
            .store
            .job(Some(principal.tenant_id.as_str()), id.as_str())
            .await?
            .ok_or(CoreError::NotFound("job"))?;
        Ok(job_view(Job::try_from(row)?))
    }

    pub async fn list(&self, principal: &Principal, query: &JobListQuery, limit: u32) -> Result<JobList> {
        principal.require(Access::Read)?;
        let filter = JobFilter {
            tenant_id: Some(principal.tenant_id.as_str()),
            state: query.state.map(JobState::as_str),
            kind: query.kind.as_deref(),
            offset: query.offset.unwrap_or(0),
            limit,
        };
        let (rows, total) = self.store.list_jobs(&filter).await?;
        let jobs = rows
            .into_iter()
            .map(|row| Job::try_from(row).map(job_view))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(JobList {
            jobs,
            total_count: total,
        })
    }

    /// Any job by id, whatever its tenant (operators and tests).
    pub async fn find(&self, id: &JobId) -> Result<Option<Job>> {
        Ok(self
            .store
            .job(None, id.as_str())
            .await?
            .map(Job::try_from)
            .transpose()?)
    }

    /// Every job of `kind`, newest first (operators and tests).
    pub async fn of_kind(&self, kind: JobKind, limit: u32) -> Result<Vec<Job>> {
        let filter = JobFilter {
            tenant_id: None,
            state: None,
            kind: Some(kind.as_str()),
            offset: 0,
            limit,
        };
        let (rows, _) = self.store.list_jobs(&filter).await?;
        Ok(rows
            .into_iter()
            .map(Job::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_capped() {
        let base = Duration::seconds(1);
        let cap = Duration::minutes(10);
        for attempt in 1..40 {
            let delay = retry_delay(attempt, base, cap);
            let nominal = (base * (1_i32 << (attempt - 1).min(30))).min(cap);
            assert!(
                delay >= nominal / 2 && delay <= nominal * 3 / 2,
                "attempt {attempt}: {delay}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let interval = Duration::hours(6);
        for _ in 0..200 {
            let next = jittered(interval, 0.1);
            assert!(next >= interval * 0.9 && next <= interval * 1.1, "{next}");
        }
    }
}
