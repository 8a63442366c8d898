//! The job queue as the domain sees it: enqueueing with dedupe keys, retry timing, and the
//! tenant-scoped views the API shows.

use std::sync::Arc;

use labgate_proto::jobs::{JobList, JobListQuery, JobProgress, JobState, JobView};
use labgate_store::{JobFilter, JobRecord, NewJob, Store};
use rand::Rng;

use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{is_valid_id, new_id};
use crate::timefmt::{opt_rfc3339, to_rfc3339};
use crate::{CoreError, Result};

pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// A job to queue.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub tenant_id: Option<String>,
    pub kind: String,
    pub payload: serde_json::Value,
    /// When to run; `None` runs as soon as a worker is free.
    pub run_at_ms: Option<i64>,
    pub max_attempts: i32,
    /// Keeps recurring jobs single however many replicas schedule them.
    pub dedupe_key: Option<String>,
}

impl JobSpec {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> JobSpec {
        JobSpec {
            tenant_id: None,
            kind: kind.into(),
            payload,
            run_at_ms: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }
}

/// The delay before attempt `attempt + 1`: exponential from `base_ms`, capped, with ±50% jitter so
/// that jobs failing together do not retry together.
pub fn retry_delay_ms(attempt: i32, base_ms: i64, cap_ms: i64) -> i64 {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = base_ms.saturating_mul(1_i64 << exponent).min(cap_ms).max(1);
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "bounded by cap_ms"
    )]
    let jittered = (delay as f64 * jitter) as i64;
    jittered.max(1)
}

pub fn job_view(record: JobRecord) -> JobView {
    JobView {
        state: JobState::parse(&record.state).unwrap_or(JobState::Failed),
        attempts: u32::try_from(record.attempts).unwrap_or(0),
        max_attempts: u32::try_from(record.max_attempts).unwrap_or(0),
        run_at: to_rfc3339(record.run_at),
        progress: JobProgress {
            done: u64::try_from(record.progress_done).unwrap_or(0),
            total: record.progress_total.and_then(|total| u64::try_from(total).ok()),
            phase: record.progress_phase,
        },
        last_error: record.last_error,
        dedupe_key: record.dedupe_key,
        created_at: to_rfc3339(record.created_at),
        updated_at: to_rfc3339(record.updated_at),
        finished_at: opt_rfc3339(record.finished_at),
        id: record.id,
        kind: record.kind,
    }
}

#[derive(Clone)]
pub struct JobQueue {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl JobQueue {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> JobQueue {
        JobQueue { store, clock }
    }

    /// Queues a job; returns its id and whether it is new (false: a live job held the dedupe key).
    pub async fn enqueue(&self, spec: &JobSpec) -> Result<(String, bool)> {
        let now = self.clock.now_ms();
        let id = new_id();
        let payload = spec.payload.to_string();
        Ok(self
            .store
            .enqueue_job(&NewJob {
                id: &id,
                tenant_id: spec.tenant_id.as_deref(),
                kind: &spec.kind,
                payload: &payload,
                run_at: spec.run_at_ms.unwrap_or(now),
                max_attempts: spec.max_attempts.max(1),
                dedupe_key: spec.dedupe_key.as_deref(),
                now,
            })
            .await?)
    }

    /// Makes sure the job `spec` describes runs now: queues it, or brings forward the queued job
    /// holding its dedupe key. A running holder picks up new work before it finishes.
    pub async fn wake(&self, spec: &JobSpec) -> Result<()> {
        let (_, created) = self.enqueue(spec).await?;
        if !created && let Some(key) = &spec.dedupe_key {
            self.store.advance_job(key, self.clock.now_ms()).await?;
        }
        Ok(())
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<JobView> {
        principal.require(Access::Read)?;
        if !is_valid_id(id) {
            return Err(CoreError::NotFound("job"));
        }
        self.store
            .job(Some(&principal.tenant_id), id)
            .await?
            .map(job_view)
            .ok_or(CoreError::NotFound("job"))
    }

    pub async fn list(&self, principal: &Principal, query: &JobListQuery, limit: u32) -> Result<JobList> {
        principal.require(Access::Read)?;
        let filter = JobFilter {
            tenant_id: Some(&principal.tenant_id),
            state: query.state.map(JobState::as_str),
            kind: query.kind.as_deref(),
            offset: query.offset.unwrap_or(0),
            limit,
        };
        let (records, total) = self.store.list_jobs(&filter).await?;
        Ok(JobList {
            jobs: records.into_iter().map(job_view).collect(),
            total_count: total,
        })
    }

    /// Any job by id, whatever its tenant (operators and tests).
    pub async fn get_any(&self, id: &str) -> Result<Option<JobView>> {
        Ok(self.store.job(None, id).await?.map(job_view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_capped() {
        for attempt in 1..40 {
            let delay = retry_delay_ms(attempt, 1_000, 600_000);
            let nominal = (1_000_i64 << (attempt - 1).clamp(0, 30)).min(600_000);
            assert!(
                delay >= nominal / 2 && delay <= nominal * 3 / 2,
                "attempt {attempt}: {delay}"
            );
        }
    }
}
