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
