//! The audit log: who did what to which resource, from where.

use std::collections::HashMap;

use crate::RandomKeys;
use std::hash::BuildHasher;
use std::net::IpAddr;

use foldhash::quality::RandomState as FoldSeed;
use std::sync::Arc;

pub use labgate_proto::audit::{ActorKind, AuditAction, ResourceType};
use labgate_proto::audit::{AuditActor, AuditLogList, AuditLogQuery, AuditLogView};
use labgate_store::{AuditFilter, AuditRecord, FoldedAuditEntry, NewAuditEntry, Store};
use parking_lot::Mutex;
use time::{Duration, OffsetDateTime};

use crate::auth::{Access, Actor, Principal};
use crate::clock::Clock;
use crate::ids::{AuditEntryId, TenantId};
use crate::rows::{Parsed, ms, text, time, unsigned};
use crate::timefmt::{format_time, parse_time};
use crate::{CoreError, Result};

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Occurrences of folded entries counted since they were last written; shared by every clone.
    folds: Arc<Folds>,
}

/// Folds counted in memory, by the digest of what they fold. Counting happens on every credential
/// read: a digest is compared in place, where comparing the fields would fetch each text from
/// memory first, and a fold already counted costs no allocation.
#[derive(Default)]
struct Folds {
    /// Two hash seeds random to this process make a 128-bit digest: two different folds share one
    /// only by accident. The fields are ids labgate issued and enum values, so nobody outside
    /// chooses them to aim for one; SipHash's guarantee against that cost twice this hash's time
    /// on every credential read.
    digest: (FoldSeed, FoldSeed),
    pending: Mutex<HashMap<u128, PendingFold, RandomKeys>>,
}

/// What a fold is told apart by, borrowed from the event being counted.
#[derive(Hash)]
struct FoldFields<'a> {
    tenant_id: &'a str,
    actor_kind: ActorKind,
    actor_id: Option<&'a str>,
    action: AuditAction,
    resource_kind: ResourceType,
    resource_id: Option<&'a str>,
    minute: i64,
}

impl Folds {
    fn digest(&self, fields: &FoldFields<'_>) -> u128 {
        (u128::from(self.digest.0.hash_one(fields)) << 64) | u128::from(self.digest.1.hash_one(fields))
    }
}

/// What a folded entry folds: one actor's action on one resource within one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FoldKey {
    tenant_id: TenantId,
    actor_kind: ActorKind,
    actor_id: Option<String>,
    action: AuditAction,
    resource_kind: ResourceType,
    resource_id: Option<String>,
    minute: i64,
}

impl FoldKey {
    /// The entry's id, a digest of what it folds: every process counting the same fold adds to
    /// the same row.
    fn entry_id(&self) -> String {
        let fold = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            self.tenant_id,
            self.actor_kind,
            self.actor_id.as_deref().unwrap_or_default(),
            self.action,
            self.resource_kind,
            self.resource_id.as_deref().unwrap_or_default(),
            self.minute,
        );
        format!(
            "fold-{}",
            hex::encode(labgate_crypto::sha256(fold.as_bytes()))
                .get(..32)
                .unwrap_or_default()
        )
    }
}

/// A fold's occurrences not written yet, with what its first occurrence carried.
#[derive(Debug, Clone)]
struct PendingFold {
    key: FoldKey,
    source_ip: Option<IpAddr>,
    details: Option<String>,
    occurrences: u32,
}

/// One audited action. `details` is JSON and never holds a secret.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub action: AuditAction,
    pub resource_kind: ResourceType,
    pub resource_id: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

impl AuditLog {
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog {
            store,
            clock,
            folds: Arc::new(Folds::default()),
        }
    }

    pub async fn record(&self, principal: &Principal, event: AuditEvent<'_>) -> Result<()> {
        let source_ip = principal.source_ip.map(|ip| ip.to_string());
        self.record_as(
            Some(&principal.tenant_id),
            &principal.actor,
            source_ip.as_deref(),
            event,
        )
        .await
    }

    pub async fn record_as(
        &self,
        tenant_id: Option<&TenantId>,
        actor: &Actor,
        source_ip: Option<&str>,
        event: AuditEvent<'_>,
    ) -> Result<()> {
        let details = event.details.as_ref().map(serde_json::Value::to_string);
        self.store
            .insert_audit(&NewAuditEntry {
                id: AuditEntryId::generate().as_str(),
                tenant_id: tenant_id.map(TenantId::as_str),
                actor_kind: actor.kind().as_str(),
                actor_id: actor.id(),
                action: event.action.as_str(),
                resource_kind: event.resource_kind.as_str(),
                resource_id: event.resource_id,
                source_ip,
                details: details.as_deref(),
                now: ms(self.clock.now()),
            })
            .await?;
        Ok(())
    }

    /// Counts an action that may repeat many times a minute — reading a credential above all —
    /// into one entry per actor, action, resource and minute, so the log stays readable and
    /// bounded however busy a consumer is. The count is kept in memory and written by
    /// [`AuditLog::flush_folded`] (every few seconds, when the process stops, and before the log
    /// is listed), so recording costs no database write; a crash loses what was counted since the
    /// last flush (see `Services::flush_usage`).
    pub fn record_folded(&self, principal: &Principal, event: AuditEvent<'_>) {
        let fields = FoldFields {
            tenant_id: principal.tenant_id.as_str(),
            actor_kind: principal.actor.kind(),
            actor_id: principal.actor.id(),
            action: event.action,
            resource_kind: event.resource_kind,
            resource_id: event.resource_id,
            minute: ms(self.clock.now()).div_euclid(60_000),
        };
        let digest = self.folds.digest(&fields);
        let mut pending = self.folds.pending.lock();
        if let Some(fold) = pending.get_mut(&digest) {
            fold.occurrences = fold.occurrences.saturating_add(1);
            return;
        }
        pending.insert(
            digest,
            PendingFold {
                key: FoldKey {
                    tenant_id: principal.tenant_id.clone(),
                    actor_kind: fields.actor_kind,
                    actor_id: fields.actor_id.map(str::to_owned),
                    action: fields.action,
                    resource_kind: fields.resource_kind,
                    resource_id: fields.resource_id.map(str::to_owned),
                    minute: fields.minute,
                },
                source_ip: principal.source_ip,
                details: event.details.as_ref().map(serde_json::Value::to_string),
                occurrences: 1,
            },
        );
    }

    /// Writes the occurrences counted since the last flush: a new fold becomes an entry dated at
    /// the start of its minute (so every fold sorts the same way), a stored one counts up. What
    /// could not be written is kept for the next flush. Returns how many entries were written.
    pub async fn flush_folded(&self) -> Result<usize> {
        let pending: Vec<(u128, PendingFold)> = std::mem::take(&mut *self.folds.pending.lock())
            .into_iter()
            .collect();
        let mut written = 0;
        let mut batches = pending.chunks(labgate_store::FOLDED_AUDIT_BATCH);
        while let Some(batch) = batches.next() {
            let ids: Vec<String> = batch.iter().map(|(_, fold)| fold.key.entry_id()).collect();
            let source_ips: Vec<Option<String>> = batch
                .iter()
                .map(|(_, fold)| fold.source_ip.map(|ip| ip.to_string()))
                .collect();
            let entries: Vec<FoldedAuditEntry<'_>> = batch
                .iter()
                .zip(ids.iter().zip(&source_ips))
                .map(|((_, fold), (id, source_ip))| {
                    let key = &fold.key;
                    FoldedAuditEntry {
                        entry: NewAuditEntry {
                            id,
                            tenant_id: Some(key.tenant_id.as_str()),
                            actor_kind: key.actor_kind.as_str(),
                            actor_id: key.actor_id.as_deref(),
                            action: key.action.as_str(),
                            resource_kind: key.resource_kind.as_str(),
                            resource_id: key.resource_id.as_deref(),
                            source_ip: source_ip.as_deref(),
                            details: fold.details.as_deref(),
                            now: key.minute * 60_000,
                        },
                        occurrences: i32::try_from(fold.occurrences).unwrap_or(i32::MAX),
                    }
                })
                .collect();
            // One statement per batch: a failed one wrote nothing, so it and the rest are kept.
            if let Err(error) = self.store.add_audit_occurrences(&entries).await {
                self.keep_unwritten(batch.iter().chain(batches.flatten()).cloned());
                return Err(error.into());
            }
            written += batch.len();
        }
        Ok(written)
    }

    /// Puts folds that could not be written back, merged with what was counted meanwhile.
    fn keep_unwritten(&self, unwritten: impl Iterator<Item = (u128, PendingFold)>) {
        let mut pending = self.folds.pending.lock();
        for (digest, fold) in unwritten {
            pending
                .entry(digest)
                .and_modify(|counted| {
                    counted.occurrences = counted.occurrences.saturating_add(fold.occurrences);
                    counted.source_ip = fold.source_ip;
                    counted.details = fold.details.clone();
                })
                .or_insert(fold);
        }
    }

    /// A page of the caller's tenant's entries, newest first. Admins only: the log shows who holds
    /// which keys and reads which credentials.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &AuditLogQuery,
        limit: u32,
    ) -> Result<AuditLogList> {
        principal.require(Access::Admin)?;
        // What this process counted shows at once; other processes' counts within a flush.
        self.flush_folded().await?;
        let time = |field: &'static str, value: &Option<String>| -> Result<Option<i64>> {
            value
                .as_deref()
                .map(|text| {
                    parse_time(text).map(ms).ok_or_else(|| {
                        CoreError::validation(field, format!("{field} must be an RFC 3339 time"))
                    })
                })
                .transpose()
        };
        let filter = AuditFilter {
            tenant_id: principal.tenant_id.as_str(),
            action: query.action.map(AuditAction::as_str),
            resource_kind: query.resource_kind.map(ResourceType::as_str),
            resource_id: query.resource_id.as_deref(),
            actor_kind: query.actor_kind.map(ActorKind::as_str),
            actor_id: query.actor_id.as_deref(),
            since: time("since", &query.since)?,
            until: time("until", &query.until)?,
            offset: query.offset.unwrap_or(0),
            limit,
        };
        let (records, total) = self.store.list_audit(&filter).await?;
        let audit_logs = records
            .into_iter()
            .map(|row| view(row).map_err(CoreError::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(AuditLogList {
            audit_logs,
            total_count: total,
        })
    }

    /// Deletes entries older than `retention`; returns how many went.
    pub async fn prune(&self, retention: Duration) -> Result<u64> {
        let before: OffsetDateTime = self.clock.now() - retention;
        Ok(self.store.prune_audit(ms(before)).await?)
    }
}

fn view(row: AuditRecord) -> Parsed<AuditLogView> {
    Ok(AuditLogView {
        actor: AuditActor {
            kind: text("audit_log.actor_kind", &row.actor_kind)?,
            id: row.actor_id,
        },
        details: row.details.and_then(|text| serde_json::from_str(&text).ok()),
        created_at: format_time(time("audit_log.created_at", row.created_at)?),
        action: text("audit_log.action", &row.action)?,
        resource_kind: text("audit_log.resource_kind", &row.resource_kind)?,
        occurrences: unsigned("audit_log.occurrences", row.occurrences)?,
        id: row.id,
        resource_id: row.resource_id,
        source_ip: row.source_ip,
    })
}
