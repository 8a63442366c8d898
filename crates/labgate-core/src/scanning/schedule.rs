//! Periodic full scans of the data sources with automatic scans on (`isAutoScanEnabled`): a
//! recurring sweep queues a full scan for each one whose latest full scan is older than the
//! scan interval (`LABGATE_SCAN_INTERVAL`) and that has no scan queued or running. Each source's
//! interval is shortened by up to a tenth, fixed per source, so sources created together spread
//! out instead of all scanning in the same sweep forever after.

use labgate_proto::audit::{AuditAction, ResourceType};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{DataSource, SecretScanning};
use crate::audit::AuditEvent;
use crate::auth::Actor;
use crate::rows::{ms, time};
use crate::{CoreError, Result};

/// The default time between full scans of a data source with automatic scans on.
pub const DEFAULT_SCAN_INTERVAL: Duration = Duration::hours(24);
/// Sources read per query of a sweep.
const BATCH: u32 = 200;

impl SecretScanning {
    /// Queues a full scan of every data source with automatic scans on whose latest full scan
    /// is older than its interval and that has no scan queued or running. Answers how many were
    /// queued. One source's failure never stops the sweep.
    pub async fn queue_due_scans(&self, interval: Duration) -> Result<usize> {
        let now = self.clock.now();
        // Every source whose shortest possible interval has passed; each is then held to its own.
        let earliest_due = crate::schedule::earliest_due(now, interval);
        let mut after = String::new();
        let mut queued = 0;
        loop {
            let batch = self
                .store
                .auto_scan_sources_due(ms(earliest_due), &after, BATCH)
                .await?;
            let Some((last, _)) = batch.last() else {
                return Ok(queued);
            };
            after.clone_from(&last.id);
            for (row, last_full_scan_at) in batch {
                let id = row.id.clone();
                let outcome = match (
                    DataSource::try_from(row),
                    time("scan_runs.created_at", last_full_scan_at),
                ) {
                    (Ok(source), Ok(last_scan)) => self.queue_if_due(&source, last_scan, interval, now).await,
                    (Err(error), _) | (_, Err(error)) => Err(CoreError::from(error)),
                };
                match outcome {
                    Ok(true) => queued += 1,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(data_source_id = %id, error = %error, "a scheduled scan could not be queued");
                    }
                }
            }
        }
    }

    async fn queue_if_due(
        &self,
        source: &DataSource,
        last_scan: OffsetDateTime,
        interval: Duration,
        now: OffsetDateTime,
    ) -> Result<bool> {
        if now - last_scan < crate::schedule::interval_of(source.id.as_str(), interval) {
            return Ok(false);
        }
        let run = self.queue_scan(source, None).await?;
        self.audit
            .record_as(
                Some(&source.tenant_id),
                &Actor::System,
                None,
                AuditEvent {
                    action: AuditAction::ScanDataSourceScan,
                    resource_kind: ResourceType::ScanDataSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({"scanId": run.id, "jobId": run.job_id, "scheduled": true})),
                },
            )
            .await?;
        Ok(true)
    }
}
