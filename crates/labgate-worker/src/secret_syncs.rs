//! Secret sync jobs: a run, an import or a removal of one sync, each through core's service.

use futures_util::future::BoxFuture;
use labgate_core::jobs::JobKind;
use labgate_core::syncs::JobEnd;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome};

/// Runs one kind of secret sync job.
pub struct SecretSyncJob {
    pub kind: JobKind,
}

impl JobHandler for SecretSyncJob {
    fn kind(&self) -> JobKind {
        self.kind
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let syncs = &context.services().secret_syncs;
            let owner = context.owner();
            let end = match self.kind {
                JobKind::SecretSyncImport => syncs.import_job(&context.job, owner).await,
                JobKind::SecretSyncRemove => syncs.remove_job(&context.job, owner).await,
                _ => syncs.run_job(&context.job, owner).await,
            };
            match end {
                JobEnd::Done { .. } => Ok(JobOutcome::default()),
                JobEnd::Retry { message } => Err(JobFailure::retry(message)),
                JobEnd::Failed { message } => Err(JobFailure::permanent(message)),
            }
        })
    }
}
