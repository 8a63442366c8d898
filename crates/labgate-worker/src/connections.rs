//! The connection health monitor: a recurring sweep that checks every connection at GitLab,
//! moves it through the status machine and rotates tokens whose auto-rotation is due; the
//! proactive refresh of OAuth connections; and the takeover of token changes whose process died.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::CoreError;
use labgate_core::connections::TokenChangeOutcome;
use labgate_core::jobs::JobKind;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome};

pub struct ConnectionHealth {
    /// Time between sweeps; each next run is jittered by ±10% so replicas and tenants spread out.
    pub interval: Duration,
}

impl JobHandler for ConnectionHealth {
    fn kind(&self) -> JobKind {
        JobKind::ConnectionsHealth
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            context.progress(0, None, Some("checking connections")).await;
            let checked = context
                .services()
                .connections
                .check_all()
                .await
                .map_err(|error| JobFailure::retry(format!("the connection health sweep failed: {error}")))?;
            let done = u64::try_from(checked).unwrap_or(0);
            context.progress(done, Some(done), None).await;
            tracing::info!(checked, "checked connections");
            Ok(JobOutcome {
                run_again_after: Some(labgate_gitlab::jittered(self.interval, 0.1)),
            })
        })
    }
}

/// Refreshes OAuth connections ahead of expiry, at about 75% of their tokens' lifetime.
pub struct ProactiveRefresh {
    /// Time between looks for due connections.
    pub interval: Duration,
}

impl JobHandler for ProactiveRefresh {
    fn kind(&self) -> JobKind {
        JobKind::ConnectionsRefresh
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let refreshed = context
                .services()
                .connections
                .refresh_due()
                .await
                .map_err(|error| JobFailure::retry(format!("the proactive refresh failed: {error}")))?;
            if refreshed > 0 {
                tracing::info!(refreshed, "refreshed OAuth connections ahead of expiry");
            }
            Ok(JobOutcome {
                run_again_after: Some(labgate_gitlab::jittered(self.interval, 0.1)),
            })
        })
    }
}

/// Takes over a token change (a rotation) whose process died while holding its job: finishes
/// it from the token journal, never by calling GitLab again. Jobs of these kinds are started
/// and held by the process that took the request; a worker claims one only once that
/// process's lease has lapsed.
pub struct TokenChangeTakeover {
    pub kind: JobKind,
}

impl JobHandler for TokenChangeTakeover {
    fn kind(&self) -> JobKind {
        self.kind
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let outcome = context
                .services()
                .connections
                .settle_token_change(&context.job)
                .await
                .map_err(|error| match error {
                    CoreError::Validation { message, .. } => JobFailure::permanent(message),
                    other => JobFailure::retry(format!("the token change could not be settled: {other}")),
                })?;
            match outcome {
                TokenChangeOutcome::Applied => Ok(JobOutcome::default()),
                TokenChangeOutcome::NotApplied => Err(JobFailure::permanent(
                    "the process running this token change stopped before GitLab changed anything; \
                     the connection keeps its token",
                )),
                TokenChangeOutcome::NeedsAttention { reason } => Err(JobFailure::permanent(reason)),
                TokenChangeOutcome::ConnectionGone => {
                    Err(JobFailure::permanent("the connection was deleted"))
                }
            }
        })
    }
}
