//! Periodic full syncs: a recurring sweep (`access.schedule`) queues a full sync of each source
//! whose latest full run is older than the interval (`LABGATE_ACCESS_SYNC_INTERVAL`), or that
//! never had one, and that has no run queued or syncing. Each source's interval is shortened by
//! up to a tenth, fixed per source, so sources created together spread out instead of all
//! syncing in the same sweep forever after.

use labgate_proto::access::AccessSyncKind;
use labgate_proto::audit::{AuditAction, ResourceType};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::sources::{AccessSource, AccessSyncs};
use crate::audit::AuditEvent;
use crate::auth::Actor;
use crate::rows::{ms, time};
use crate::{CoreError, Result};

/// The default time between full syncs of a source.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::hours(24);
/// Sources read per query of a sweep.
const BATCH: u32 = 200;

impl AccessSyncs {
    /// Queues a full sync of every source whose latest full run is older than its interval (or
    /// that never had one) and that has no run queued or syncing. Answers how many were queued.
    /// One source's failure never stops the sweep.
    pub async fn queue_due_syncs(&self, interval: Duration) -> Result<usize> {
        let now = self.clock.now();
        // Every source whose shortest possible interval has passed; each is then held to its own.
        let earliest_due = crate::schedule::earliest_due(now, interval);
        let mut after = String::new();
        let mut queued = 0;
        loop {
            let batch = self
                .store
                .access_sources_due(ms(earliest_due), &after, BATCH)
                .await?;
            let Some((last, _)) = batch.last() else {
                return Ok(queued);
            };
            after.clone_from(&last.id);
            for (row, last_full_run_at) in batch {
                let id = row.id.clone();
                let outcome = match (
                    AccessSource::try_from(row),
                    time("access_sync_runs.created_at", last_full_run_at),
                ) {
                    (Ok(source), Ok(last_run)) => self.queue_if_due(&source, last_run, interval, now).await,
                    (Err(error), _) | (_, Err(error)) => Err(CoreError::from(error)),
                };
                match outcome {
                    Ok(true) => queued += 1,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(access_source_id = %id, error = %error, "a scheduled access sync could not be queued");
                    }
                }
            }
        }
    }

    async fn queue_if_due(
        &self,
        source: &AccessSource,
        last_run: OffsetDateTime,
        interval: Duration,
        now: OffsetDateTime,
    ) -> Result<bool> {
        if now - last_run < crate::schedule::interval_of(source.id.as_str(), interval) {
            return Ok(false);
        }
        let run = self.queue_run(source, AccessSyncKind::Full, &[]).await?;
        self.audit
            .record_as(
                Some(&source.tenant_id),
                &Actor::System,
                None,
                AuditEvent {
                    action: AuditAction::AccessSourceSync,
                    resource_kind: ResourceType::AccessSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(
                        json!({"name": source.name, "syncId": run.id, "kind": run.kind, "scheduled": true}),
                    ),
                },
            )
            .await?;
        Ok(true)
    }
}
