//! Secret scanning jobs, through core's service: one scan run of a data source (all of its
//! repositories, or one); what one push brought in; the removal of push hooks GitLab failed to
//! remove at once; and the recurring sweep that queues the periodic full scans of data sources
//! with automatic scans on.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::jobs::JobKind;
use labgate_core::scanning::JobEnd;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome, span};

/// Runs `secret-scanning.scan` jobs.
pub struct SecretScanJob;

impl JobHandler for SecretScanJob {
    fn kind(&self) -> JobKind {
        JobKind::SecretScan
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let scanning = &context.services().secret_scanning;
            outcome_of(scanning.run_job(&context.job, context.owner()).await)
        })
    }
}

/// Queues a full scan of each data source with automatic scans on whose latest full scan is
/// older than `interval` (and none queued or running), then runs again a twenty-fourth of the
/// interval later (between a minute and an hour, jittered ±10%), so a source waits little past
/// its interval.
pub struct ScanSchedule {
    pub interval: Duration,
}

impl ScanSchedule {
    fn next_sweep(&self) -> Duration {
        let period = (self.interval / 24).clamp(Duration::from_secs(60), Duration::from_secs(3_600));
        labgate_gitlab::jittered(period, 0.1)
    }
}

impl JobHandler for ScanSchedule {
    fn kind(&self) -> JobKind {
        JobKind::SecretScanSchedule
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let queued = context
                .services()
                .secret_scanning
                .queue_due_scans(span(self.interval))
                .await
                .map_err(|error| {
                    JobFailure::retry(format!("the scheduled scans could not be queued: {error}"))
                })?;
            if queued > 0 {
                tracing::info!(queued, "queued scheduled full scans");
            }
            Ok(JobOutcome {
                run_again_after: Some(self.next_sweep()),
            })
        })
    }
}

/// Runs `secret-scanning.push` jobs: what one push brought in.
pub struct SecretScanPushJob;

impl JobHandler for SecretScanPushJob {
    fn kind(&self) -> JobKind {
        JobKind::SecretScanPush
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let scanning = &context.services().secret_scanning;
            outcome_of(scanning.run_push_job(&context.job).await)
        })
    }
}

/// Runs `secret-scanning.hooks-remove` jobs: push hooks of a deleted data source, or of one whose
/// auto-scan was turned off, that GitLab did not remove at once.
pub struct SecretScanHooksRemoveJob;

impl JobHandler for SecretScanHooksRemoveJob {
    fn kind(&self) -> JobKind {
        JobKind::SecretScanHooksRemove
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let scanning = &context.services().secret_scanning;
            outcome_of(scanning.run_hooks_remove_job(&context.job).await)
        })
    }
}

fn outcome_of(end: JobEnd) -> Result<JobOutcome, JobFailure> {
    match end {
        JobEnd::Done { .. } => Ok(JobOutcome::default()),
        JobEnd::Retry { message } => Err(JobFailure::retry(message)),
        JobEnd::Failed { message } => Err(JobFailure::permanent(message)),
    }
}
