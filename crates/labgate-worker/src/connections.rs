//! The connection health monitor: a recurring sweep that checks every connection at GitLab,
//! moves it through the status machine and rotates tokens whose auto-rotation is due.

use std::time::Duration;

use futures_util::future::BoxFuture;
use labgate_core::connections::CHECK_KIND;
use rand::Rng;

use crate::runner::{JobContext, JobFailure, JobHandler, JobOutcome};

pub struct ConnectionHealth {
    /// Time between sweeps; each next run is jittered by ±10% so replicas and tenants spread out.
    pub interval: Duration,
}

/// `interval` ± 10%.
pub fn jittered(interval: Duration) -> Duration {
    let spread = interval.as_millis() / 10;
    let spread = u64::try_from(spread).unwrap_or(u64::MAX);
    let offset = rand::thread_rng().gen_range(0..=spread.saturating_mul(2));
    (interval + Duration::from_millis(offset)).saturating_sub(Duration::from_millis(spread))
}

impl JobHandler for ConnectionHealth {
    fn kind(&self) -> &'static str {
        CHECK_KIND
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
                run_again_after: Some(jittered(self.interval)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(6 * 3_600);
        for _ in 0..200 {
            let next = jittered(interval);
            assert!(
                next >= interval * 9 / 10 && next <= interval * 11 / 10,
                "{next:?}"
            );
        }
    }
}
