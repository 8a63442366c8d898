//! The job that sends queued webhook deliveries.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::jobs::JobKind;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome};

/// Deliveries sent per batch.
const BATCH: u32 = 50;
/// Even when nothing is due, the outbox is looked at this often, so a delivery queued while the
/// previous run was finishing is never stranded.
const SWEEP: Duration = Duration::from_secs(300);

pub struct WebhookDelivery {
    /// Built by [`delivery_client`].
    pub http: labgate_gitlab::GuardedHttp,
}

impl JobHandler for WebhookDelivery {
    fn kind(&self) -> JobKind {
        JobKind::WebhooksDeliver
    }

    fn run<'a>(&'a self, context: &'a JobContext) -> BoxFuture<'a, Result<JobOutcome, JobFailure>> {
        Box::pin(async move {
            let services = context.services();
            let owner = format!("{}:{}", context.owner(), context.job.id);
            let mut sent = 0_u64;
            loop {
                if context.cancel.is_cancelled() {
                    break;
                }
                let stats = services
                    .webhooks
                    .deliver_due(&self.http, &owner, BATCH)
                    .await
                    .map_err(|error| JobFailure::retry(format!("delivering webhooks failed: {error}")))?;
                let handled = stats.delivered + stats.retrying + stats.failed;
                sent += u64::try_from(handled).unwrap_or(0);
                context.progress(sent, None, Some("delivering")).await;
                if handled == 0 {
                    break;
                }
            }
            let now = services.clock.now();
            let next =
                services.webhooks.next_due().await.map_err(|error| {
                    JobFailure::retry(format!("reading the webhook outbox failed: {error}"))
                })?;
            let wait = next.map_or(SWEEP, |due| {
                Duration::try_from(due - now).unwrap_or(Duration::ZERO).min(SWEEP)
            });
            Ok(JobOutcome {
                run_again_after: Some(wait),
            })
        })
    }
}

/// An HTTP client for subscriber deliveries: before each send it resolves the subscriber's name
/// and refuses internal addresses the webhook allow-list does not allow, it follows no redirect
/// to another host, bounds time, and goes through no proxy but `LABGATE_WEBHOOK_PROXY`.
pub fn delivery_client(
    network: &labgate_core::NetworkSettings,
) -> Result<labgate_gitlab::GuardedHttp, labgate_gitlab::net::ClientBuildError> {
    labgate_gitlab::GuardedHttp::new(network.webhooks(), network.webhook_proxy())
}
