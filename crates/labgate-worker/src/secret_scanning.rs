//! Secret scanning jobs: one scan run of a data source (all of its repositories, or one), through
//! core's service.

use futures_util::future::BoxFuture;
use labgate_core::jobs::JobKind;
use labgate_core::scanning::JobEnd;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome};

/// Runs `secret-scanning.scan` jobs.
pub struct SecretScanJob;

impl JobHandler for SecretScanJob {
    fn kind(&self) -> JobKind {
        JobKind::SecretScan
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let scanning = &context.services().secret_scanning;
            match scanning.run_job(&context.job, context.owner()).await {
                JobEnd::Done { .. } => Ok(JobOutcome::default()),
                JobEnd::Retry { message } => Err(JobFailure::retry(message)),
                JobEnd::Failed { message } => Err(JobFailure::permanent(message)),
            }
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
