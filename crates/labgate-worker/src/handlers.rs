//! Built-in job kinds.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::jobs::JobKind;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome, span};

/// Applies the retention settings: deletes finished jobs, old audit entries, finished webhook
/// deliveries, old connection events and expired push webhook event ids. Recurring.
pub struct MaintenancePrune {
    pub job_retention: Duration,
    pub audit_retention: Duration,
    pub delivery_retention: Duration,
    pub event_retention: Duration,
    pub interval: Duration,
}

impl JobHandler for MaintenancePrune {
    fn kind(&self) -> JobKind {
        JobKind::MaintenancePrune
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let services = context.services();
            context.progress(0, Some(6), Some("jobs")).await;
            let jobs = services
                .jobs
                .prune(span(self.job_retention))
                .await
                .map_err(|error| JobFailure::retry(format!("pruning jobs failed: {error}")))?;
            context.progress(1, Some(6), Some("audit log")).await;
            let audit = services
                .audit
                .prune(span(self.audit_retention))
                .await
                .map_err(|error| JobFailure::retry(format!("pruning the audit log failed: {error}")))?;
            context.progress(2, Some(6), Some("webhook deliveries")).await;
            let deliveries = services
                .webhooks
                .prune(span(self.delivery_retention))
                .await
                .map_err(|error| JobFailure::retry(format!("pruning webhook deliveries failed: {error}")))?;
            context.progress(3, Some(6), Some("connection events")).await;
            let events = services
                .connections
                .prune_events(span(self.event_retention))
                .await
                .map_err(|error| JobFailure::retry(format!("pruning connection events failed: {error}")))?;
            context.progress(4, Some(6), Some("push webhook events")).await;
            let push_events = services
                .secret_scanning
                .prune_push_events()
                .await
                .map_err(|error| JobFailure::retry(format!("pruning push webhook events failed: {error}")))?;
            context.progress(5, Some(6), Some("access webhook events")).await;
            let access_events = services.access_hooks.prune_events().await.map_err(|error| {
                JobFailure::retry(format!("pruning access webhook events failed: {error}"))
            })?;
            context.progress(6, Some(6), None).await;
            tracing::info!(
                jobs,
                audit,
                deliveries,
                events,
                push_events,
                access_events,
                "pruned old records"
            );
            Ok(JobOutcome {
                run_again_after: Some(self.interval),
            })
        })
    }
}

/// Proves that workers pick up and finish work: waits `millis` in `steps` steps, reporting
/// progress after each. Operators queue it to check a deployment's workers end to end.
pub struct DiagnosticProbe;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbePayload {
    #[serde(default)]
    millis: u64,
    #[serde(default = "one")]
    steps: u64,
}

fn one() -> u64 {
    1
}

/// A probe never holds a worker longer than this.
const PROBE_LIMIT_MS: u64 = 10 * 60 * 1_000;

impl JobHandler for DiagnosticProbe {
    fn kind(&self) -> JobKind {
        JobKind::DiagnosticProbe
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let payload: ProbePayload = serde_json::from_value(context.job.payload.clone())
                .map_err(|error| JobFailure::permanent(format!("invalid probe payload: {error}")))?;
            if payload.millis > PROBE_LIMIT_MS || payload.steps == 0 || payload.steps > 10_000 {
                return Err(JobFailure::permanent(
                    "a probe waits at most 10 minutes in 1-10000 steps",
                ));
            }
            let step = Duration::from_millis(payload.millis / payload.steps);
            for done in 1..=payload.steps {
                tokio::select! {
                    () = context.cancel.cancelled() => return Err(JobFailure::retry("stopped by shutdown")),
                    () = tokio::time::sleep(step) => {}
                }
                context.progress(done, Some(payload.steps), Some("waiting")).await;
            }
            Ok(JobOutcome::default())
        })
    }
}
