//! Access sync jobs, through core's service: one sync run of an access source, and the
//! recurring sweep that queues the periodic full syncs, and the removal of a deleted source's
//! webhooks that GitLab did not remove at once.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::access::SyncJobEnd;
use labgate_core::jobs::JobKind;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome, span};

/// Runs `access.sync` jobs.
pub struct AccessSyncJob;

impl JobHandler for AccessSyncJob {
    fn kind(&self) -> JobKind {
        JobKind::AccessSync
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let access = &context.services().access;
            match access.run_job(&context.job, context.owner()).await {
                SyncJobEnd::Done { .. } => Ok(JobOutcome::default()),
                SyncJobEnd::Retry { message } => Err(JobFailure::retry(message)),
                SyncJobEnd::Failed { message } => Err(JobFailure::permanent(message)),
            }
        })
    }
}

/// Runs `access.hooks-remove` jobs: the webhooks of a deleted access source that GitLab did not
/// remove at once.
pub struct AccessHooksRemoveJob;

impl JobHandler for AccessHooksRemoveJob {
    fn kind(&self) -> JobKind {
        JobKind::AccessHooksRemove
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let access = &context.services().access;
            match access.run_hooks_remove_job(&context.job).await {
                SyncJobEnd::Done { .. } => Ok(JobOutcome::default()),
                SyncJobEnd::Retry { message } => Err(JobFailure::retry(message)),
                SyncJobEnd::Failed { message } => Err(JobFailure::permanent(message)),
            }
        })
    }
}

/// Queues a full sync of each access source whose latest full run is older than `interval` (and
/// none queued or running), then runs again a twenty-fourth of the interval later (between a
/// minute and an hour, jittered ±10%), so a source waits little past its interval.
pub struct AccessSchedule {
    pub interval: Duration,
}

impl AccessSchedule {
    fn next_sweep(&self) -> Duration {
        let period = (self.interval / 24).clamp(Duration::from_secs(60), Duration::from_secs(3_600));
        labgate_gitlab::jittered(period, 0.1)
    }
}

impl JobHandler for AccessSchedule {
    fn kind(&self) -> JobKind {
        JobKind::AccessSchedule
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let queued = context
                .services()
                .access
                .queue_due_syncs(span(self.interval))
                .await
                .map_err(|error| {
                    JobFailure::retry(format!("the scheduled access syncs could not be queued: {error}"))
                })?;
            if queued > 0 {
                tracing::info!(queued, "queued scheduled access syncs");
            }
            Ok(JobOutcome {
                run_again_after: Some(self.next_sweep()),
            })
        })
    }
}
