//! Silent OAuth refresh that never loses a rotated refresh token.
//!
//! GitLab's access tokens live two hours, and a refresh kills the old pair the moment GitLab
//! answers: a second refresh with the old refresh token gets `invalid_grant`. So, per connection:
//!
//! 1. one refresh at a time in this process (a gate), and across processes a lease in the
//!    database (owner and end); the row is read again once the lease is held, and a generation
//!    that moved means another process refreshed: its tokens are used;
//! 2. the request runs in a task of its own, never cancelled with a caller, with the keys that
//!    seal the answer fetched before it leaves; a journal entry (`sent`) marks it as out;
//! 3. GitLab's answer is sealed into the journal before anything else, the write retried;
//! 4. the tokens, the row (generation + 1) and the journal entry's removal are one transaction
//!    made under the lease; a crash before it leaves the answer for recovery at start.
//!
//! `invalid_grant` (after a re-read) means the grant is gone: `needs_reauth`, one event and one
//! webhook. `invalid_client` is the instance's fault and raises its alert. Anything else backs
//! off without touching the status; waiting for another process's lease is never a failure.

use std::collections::HashMap;
use std::sync::Arc;

use labgate_gitlab::GitLabError;
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{JournalApply, RefreshHold, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::model::{
    Connection, ConnectionEventKind, ConnectionMethod, ConnectionStatus, JournalEntry, JournalOperation,
    JournalState,
};
use super::oauth::{ReceivedTokens, SealedPair};
use super::rows::{connection_row, event_row};
use super::{Connections, view};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::{ConnectionId, JobId, JournalId};
use crate::jobs::{JobKind, Settled};
use crate::rows::ms;
use crate::{CoreError, Result};

/// A read refreshes on demand when less than this is left of a token…
const ON_DEMAND_MARGIN: Duration = Duration::minutes(5);
/// …unless the token's whole lifetime is this short: then when less than half is left, so that
/// a fresh token never triggers another refresh.
const SHORT_LIFETIME: Duration = Duration::minutes(5);
/// How much longer than its longest refresh a lease lasts: short enough that a crashed holder's
/// connection is refreshed again soon.
const LEASE_MARGIN: Duration = Duration::seconds(60);
/// How long a caller waits for another process's refresh before giving up on this attempt.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// OAuth connections used within this long are refreshed ahead of expiry unless configured
/// otherwise (`LABGATE_PROACTIVE_REFRESH_DAYS`).
pub const DEFAULT_PROACTIVE_WINDOW: Duration = Duration::days(7);
/// Longest back-off between refresh attempts after transient failures.
const MAX_BACKOFF: Duration = Duration::minutes(15);

/// When a connection now holding a token issued at `issued` and expiring at `expires` is
/// refreshed ahead of time: at about 75% of the lifetime, jittered by ±5% of it so that
/// replicas and connections created together spread out.
pub fn proactive_refresh_at(issued: OffsetDateTime, expires: OffsetDateTime) -> OffsetDateTime {
    let lifetime = (expires - issued).max(Duration::ZERO);
    let planned = lifetime.unsigned_abs().mul_f64(0.75);
    let jittered = labgate_gitlab::jittered(planned, 0.05 / 0.75);
    issued + Duration::try_from(jittered).unwrap_or(lifetime * 3 / 4)
}

/// How much must be left of a token for a read not to refresh it.
pub fn refresh_margin(connection: &Connection) -> Duration {
    let lifetime = match (connection.token_issued_at, connection.expires_at) {
        (Some(issued), Some(expires)) => expires - issued,
        _ => return ON_DEMAND_MARGIN,
    };
    if lifetime <= SHORT_LIFETIME {
        lifetime / 2
    } else {
        ON_DEMAND_MARGIN
    }
}

/// Whether a read at `now` must refresh the connection's token first.
pub fn needs_refresh(connection: &Connection, now: OffsetDateTime) -> bool {
    connection.method == ConnectionMethod::OAuth
        && connection
            .expires_at
            .is_none_or(|expires_at| expires_at - now < refresh_margin(connection))
}

/// Whether a read at `now` asks GitLab for new tokens: the token needs refreshing, and no
/// back-off after failed attempts holds reads off while the held token still works. Without
/// the back-off every read during an outage would send a refresh (and its re-ask) to GitLab.
pub fn read_refreshes(connection: &Connection, now: OffsetDateTime) -> bool {
    let backing_off = connection.consecutive_failures > 0
        && connection.next_refresh_at.is_some_and(|next| next > now)
        && connection.expires_at.is_some_and(|expires_at| expires_at > now);
    needs_refresh(connection, now) && !backing_off
}

/// GitLab's answer to a refresh as journalled (sealed as a whole).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
struct RefreshAnswer {
    access_token: String,
    refresh_token: String,
    scopes: Vec<String>,
    /// labgate's clock when the answer arrived, and the lifetime GitLab gave.
    received_at_ms: i64,
    expires_in_ms: Option<i64>,
    /// The generation the refresh started from: the answer applies only to it.
    from_generation: u64,
}

impl RefreshAnswer {
    fn tokens(&self) -> Result<ReceivedTokens> {
        let received_at = crate::rows::time("token_journal.answer", self.received_at_ms)?;
        Ok(ReceivedTokens {
            access_token: SecretString::from(self.access_token.as_str()),
            refresh_token: SecretString::from(self.refresh_token.as_str()),
            scopes: self.scopes.clone(),
            received_at,
            expires_at: self
                .expires_in_ms
                .map(|lifetime| received_at + Duration::milliseconds(lifetime)),
        })
    }
}

/// Why a refresh is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// A read (or a health check) found too little left.
    OnDemand,
    /// The proactive schedule came due.
    Proactive,
    /// An operator asked for one now.
    Forced,
    /// A scan found one of the tokens leaked: the pair is replaced, and GitLab revokes it.
    Leaked,
}

/// One gate per connection being refreshed in this process.
#[derive(Default)]
pub(super) struct RefreshGates {
    gates: parking_lot::Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshGates {
    fn gate(&self, id: &ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        self.gates.lock().entry(id.clone()).or_default().clone()
    }

    /// Forgets a gate nobody waits at any more.
    fn settle(&self, id: &ConnectionId) {
        let mut gates = self.gates.lock();
        if gates.get(id).is_some_and(|gate| Arc::strong_count(gate) == 1) {
            gates.remove(id);
        }
    }
}

/// Whose lease an apply requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaseCheck {
    /// This process's: the normal path.
    Held,
    /// Anyone's: an answer left by a process that may have crashed holding the lease.
    Any,
}

/// How an attempt that did not refresh ended.
enum Missed {
    /// Nothing changed at GitLab; try later.
    Transient(CoreError),
    /// The outcome at GitLab is unknown: the journal entry stays `sent`.
    Unknown(GitLabError),
}

impl Connections {
    /// Refreshes an OAuth connection now and waits until the refresh has ended.
    pub async fn refresh(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<labgate_proto::connections::ConnectionView> {
        match self.refresh_within(principal, id, None).await? {
            Settled::Done(view) => Ok(view),
            Settled::Running(job) => Err(CoreError::Unavailable(format!(
                "the refresh goes on in job {}",
                job.id
            ))),
        }
    }

    /// `POST …/gitlab/{id}/refresh`: refreshes an OAuth connection now, through the same
    /// single-flight path as every other refresh, as a job the request cannot cancel; waits up
    /// to `wait` (`None`: until it ends) before answering with the job that follows it.
    pub async fn refresh_within(
        &self,
        principal: &Principal,
        id: &str,
        wait: Option<std::time::Duration>,
    ) -> Result<Settled<labgate_proto::connections::ConnectionView>> {
        principal.require(Access::Write)?;
        let connection = self.load(principal, id).await?;
        if connection.method != ConnectionMethod::OAuth {
            return Err(CoreError::Conflict(
                "only OAuth connections are refreshed; access-token connections rotate (POST …/rotate)"
                    .to_owned(),
            ));
        }
        if connection.status == ConnectionStatus::NeedsReauth {
            return Err(CoreError::Conflict(
                "GitLab no longer honours this connection's grant; reconnect it through OAuth".to_owned(),
            ));
        }
        let this = self.clone();
        let principal = principal.clone();
        let planned = connection.clone();
        self.run_token_change(
            JobKind::ConnectionRefresh,
            &connection,
            wait,
            move |job_id| async move { this.refresh_for(&principal, &job_id, planned).await },
        )
        .await
    }

    /// A refresh `principal` asked for, run as job `job_id`: refreshed and audited, and an
    /// error when GitLab no longer honours the grant.
    async fn refresh_for(
        &self,
        principal: &Principal,
        job_id: &JobId,
        planned: Connection,
    ) -> Result<labgate_proto::connections::ConnectionView> {
        let refreshed = self.refresh_oauth(planned, RefreshReason::Forced).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionRefresh,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(refreshed.id.as_str()),
                    details: Some(json!({
                        "status": refreshed.status,
                        "generation": refreshed.refresh_generation,
                        "jobId": job_id,
                    })),
                },
            )
            .await?;
        if refreshed.status == ConnectionStatus::NeedsReauth {
            return Err(CoreError::Conflict(format!(
                "GitLab no longer honours this connection's grant; reconnect it through OAuth: {}",
                refreshed.status_reason.as_deref().unwrap_or_default()
            )));
        }
        Ok(view(&refreshed))
    }

    /// Refreshes an OAuth connection and answers with it as it ends up (refreshed by this call
    /// or by another process meanwhile, or failed with its status). Runs in a task of its own:
    /// a caller that goes away does not cancel it between GitLab's answer and the journal.
    pub(super) async fn refresh_oauth(
        &self,
        planned: Connection,
        reason: RefreshReason,
    ) -> Result<Connection> {
        let this = self.clone();
        tokio::spawn(async move { this.refresh_detached(planned, reason).await })
            .await
            .map_err(CoreError::internal)?
    }

    async fn refresh_detached(&self, planned: Connection, reason: RefreshReason) -> Result<Connection> {
        let gate = self.refresh_gates.gate(&planned.id);
        let outcome = {
            let _turn = gate.lock().await;
            self.refresh_in_turn(planned.clone(), reason).await
        };
        drop(gate);
        self.refresh_gates.settle(&planned.id);
        outcome
    }

    /// Step 1: this process's turn is held; takes the lease across processes.
    async fn refresh_in_turn(&self, planned: Connection, reason: RefreshReason) -> Result<Connection> {
        // An answer a crashed process journalled but never applied holds the current tokens:
        // applied first, whoever holds the lease (a dead holder's lease would block it).
        for row in self
            .store
            .connection_journal(planned.tenant_id.as_str(), planned.id.as_str())
            .await?
        {
            let entry = JournalEntry::try_from(row)?;
            if entry.operation == JournalOperation::Refresh && entry.state == JournalState::Answered {
                let applied = self.apply_refresh(&entry, LeaseCheck::Any).await?;
                if reason != RefreshReason::Forced {
                    return Ok(applied);
                }
            }
        }
        let current = self.reload(&planned).await?;
        if current.refresh_generation != planned.refresh_generation && reason != RefreshReason::Forced {
            // Refreshed by someone else while this caller waited for its turn.
            return Ok(current);
        }
        if !self.still_wanted(&current, reason) {
            return Ok(current);
        }
        let started = std::time::Instant::now();
        loop {
            let now = self.clock.now();
            if self
                .store
                .take_refresh_lease(
                    current.tenant_id.as_str(),
                    current.id.as_str(),
                    &self.lease_owner,
                    ms(now),
                    ms(now + self.lease_length()),
                )
                .await?
            {
                break;
            }
            // Another process refreshes: its tokens will do once its generation moves.
            tokio::time::sleep(LEASE_POLL).await;
            let seen = self.reload(&current).await?;
            if seen.refresh_generation != current.refresh_generation || seen.status.needs_person() {
                return Ok(seen);
            }
            if started.elapsed() >= LEASE_WAIT {
                return Err(CoreError::Unavailable(
                    "another labgate process is refreshing this connection; ask again shortly".to_owned(),
                ));
            }
        }
        let outcome = self.refresh_under_lease(&current, reason).await;
        // The apply releases the lease with its write; every other ending gives it back here.
        if let Err(error) = self
            .store
            .release_refresh_lease(current.tenant_id.as_str(), current.id.as_str(), &self.lease_owner)
            .await
        {
            tracing::warn!(connection_id = %current.id, error = %error, "a refresh lease could not be released; it lapses");
        }
        outcome
    }

    /// How long a refresh lease lasts: longer than a refresh can take (its request and the one
    /// re-ask, each up to the client's timeout, then the journal write's retries). A lease that
    /// ran out under a refresh still waiting for GitLab would let another process send the same
    /// refresh token again, and strict rotation would end the grant.
    fn lease_length(&self) -> Duration {
        let requests = self.options.request_timeout.saturating_mul(2);
        let journal = super::rotate::JOURNAL_WRITE_FIRST_DELAY
            .saturating_mul(2_u32.pow(super::rotate::JOURNAL_WRITE_ATTEMPTS));
        Duration::try_from(requests.saturating_add(journal)).unwrap_or(Duration::HOUR) + LEASE_MARGIN
    }

    fn still_wanted(&self, connection: &Connection, reason: RefreshReason) -> bool {
        if connection.method != ConnectionMethod::OAuth {
            return false;
        }
        // A leaked pair is replaced only while the connection still holds it; any other refresh
        // waits for the person a connection in such a state needs.
        if reason == RefreshReason::Leaked {
            return connection.status == ConnectionStatus::Compromised;
        }
        if connection.status.needs_person() {
            return false;
        }
        match reason {
            RefreshReason::Forced | RefreshReason::Leaked => true,
            RefreshReason::OnDemand => read_refreshes(connection, self.clock.now()),
            RefreshReason::Proactive => connection
                .next_refresh_at
                .is_some_and(|due| due <= self.clock.now()),
        }
    }

    /// Steps 2–4, under the lease.
    async fn refresh_under_lease(&self, leased: &Connection, reason: RefreshReason) -> Result<Connection> {
        let current = self.reload(leased).await?;
        if current.refresh_generation != leased.refresh_generation
            || (reason != RefreshReason::Forced && !self.still_wanted(&current, reason))
        {
            return Ok(current);
        }
        let mut earlier_lost = false;
        for row in self
            .store
            .connection_journal(current.tenant_id.as_str(), current.id.as_str())
            .await?
        {
            let entry = JournalEntry::try_from(row)?;
            match (entry.operation, entry.state) {
                (JournalOperation::Refresh, JournalState::Answered) => {
                    return self.apply_refresh(&entry, LeaseCheck::Held).await;
                }
                (JournalOperation::Refresh, JournalState::Sent) => {
                    earlier_lost = true;
                    self.store.delete_journal(entry.id.as_str()).await?;
                }
                (JournalOperation::Refresh, JournalState::Pending) => {
                    self.store.delete_journal(entry.id.as_str()).await?;
                }
                (JournalOperation::Rotate, _) => {}
            }
        }
        let target = self
            .instances
            .oauth_target_of(&current.tenant_id, current.instance_id.as_ref())
            .await?;
        let client = self.oauth_client(&target)?;
        let refresh_token = self
            .vault
            .get_secret(&super::oauth::refresh_slot(&current))
            .await?
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))?;
        // The keys that seal GitLab's answer are fetched first: once GitLab has answered,
        // nothing that can fail should stand between the answer and the journal.
        let keys = self.vault.active_keys(current.tenant_id.as_str()).await?;
        let journal_id = JournalId::generate();
        let now = self.clock.now();
        self.store
            .insert_journal(&labgate_store::NewJournalEntry {
                id: journal_id.as_str(),
                tenant_id: current.tenant_id.as_str(),
                connection_id: current.id.as_str(),
                operation: JournalOperation::Refresh.as_str(),
                job_id: None,
                now: ms(now),
            })
            .await?;
        self.store.mark_journal_sent(journal_id.as_str(), ms(now)).await?;
        let mut attempt = client.refresh(&refresh_token).await;
        if let Err(error) = &attempt
            && !certainly_not_applied(error)
            && !matches!(error, GitLabError::InvalidGrant | GitLabError::InvalidClient)
        {
            // GitLab may or may not have acted. Asking once more tells: the same refresh token
            // works if it did not, and gets `invalid_grant` if it did.
            tracing::warn!(connection_id = %current.id, error = %error, "a refresh's answer was lost; asking once more");
            earlier_lost = true;
            attempt = client.refresh(&refresh_token).await;
        }
        let tokens = match attempt {
            Ok(tokens) => ReceivedTokens::new(tokens, self.clock.now())?,
            Err(error) => {
                return self
                    .refresh_refused(&current, &target, &journal_id, error, earlier_lost)
                    .await;
            }
        };
        let entry = self
            .journal_refresh(&journal_id, &current, &tokens, &keys)
            .await?;
        failpoint!(
            "refresh.after-journal",
            current.id.as_str(),
            Err(CoreError::Unavailable(
                "stopped after journalling a refresh (failpoint)".to_owned()
            ))
        );
        self.apply_refresh(&entry, LeaseCheck::Held).await
    }

    /// A refresh GitLab did not answer with tokens.
    async fn refresh_refused(
        &self,
        current: &Connection,
        target: &crate::instances::OAuthTarget,
        journal_id: &JournalId,
        error: GitLabError,
        earlier_lost: bool,
    ) -> Result<Connection> {
        let missed = match error {
            GitLabError::InvalidGrant => {
                self.store.delete_journal(journal_id.as_str()).await?;
                // Another process may have refreshed after all (a lease that lapsed).
                let seen = self.reload(current).await?;
                if seen.refresh_generation != current.refresh_generation {
                    return Ok(seen);
                }
                let reason = if earlier_lost {
                    "GitLab's answer to a token refresh was lost, and GitLab had already replaced the tokens, so the \
                     grant can no longer be refreshed (invalid_grant); reconnect the connection through OAuth"
                } else {
                    "GitLab no longer honours the connection's grant (invalid_grant): it was revoked, the \
                     application was removed, or the user lost access; reconnect the connection through OAuth"
                };
                return self.needs_reauth(&seen, reason.to_owned()).await;
            }
            GitLabError::InvalidClient => {
                self.store.delete_journal(journal_id.as_str()).await?;
                self.instance_refused(&current.tenant_id, target).await;
                Missed::Transient(CoreError::Unavailable(
                    "GitLab refused labgate's OAuth application (invalid_client); the instance's client id and \
                     secret need fixing"
                        .to_owned(),
                ))
            }
            error if certainly_not_applied(&error) => {
                self.store.delete_journal(journal_id.as_str()).await?;
                Missed::Transient(CoreError::Unavailable(format!(
                    "the refresh did not reach GitLab: {error}"
                )))
            }
            // Kept as `sent`: the next attempt knows an earlier answer may have been lost.
            error => Missed::Unknown(error),
        };
        let error = match missed {
            Missed::Transient(error) => error,
            Missed::Unknown(error) => {
                CoreError::Unavailable(format!("GitLab did not answer the refresh: {error}"))
            }
        };
        self.back_off(current).await?;
        Err(error)
    }

    /// Schedules the next attempt later, without touching the status.
    async fn back_off(&self, current: &Connection) -> Result<()> {
        let mut next = current.clone();
        next.consecutive_failures = current.consecutive_failures.saturating_add(1);
        let exponent = next.consecutive_failures.min(10);
        let delay = (Duration::seconds(30) * 2_i32.pow(exponent.saturating_sub(1))).min(MAX_BACKOFF);
        let delay = crate::jobs::jittered(delay, 0.2);
        next.next_refresh_at = Some(self.clock.now() + delay);
        // A lost race with another writer is fine: its write is at least as fresh.
        self.save(&next, current.version, None).await?;
        Ok(())
    }

    /// The grant is gone: `needs_reauth`, with one event, one webhook and an audit entry.
    async fn needs_reauth(&self, current: &Connection, reason: String) -> Result<Connection> {
        let mut next = current.clone();
        next.status = ConnectionStatus::NeedsReauth;
        next.status_reason = Some(reason);
        next.next_refresh_at = None;
        next.updated_at = self.clock.now();
        let saved = self.save_health(current, next).await?;
        self.audit_system(
            &saved,
            AuditAction::ConnectionNeedsReauth,
            json!({"reason": "invalid_grant"}),
        )
        .await?;
        Ok(saved)
    }

    /// Step 3: GitLab's answer, sealed into the journal entry before anything else, the write
    /// retried (a locked SQLite file, a dropped PostgreSQL connection) and its result checked.
    async fn journal_refresh(
        &self,
        journal_id: &JournalId,
        connection: &Connection,
        tokens: &ReceivedTokens,
        keys: &labgate_crypto::TenantKeys,
    ) -> Result<JournalEntry> {
        let answer = RefreshAnswer {
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens.refresh_token.expose_secret().to_owned(),
            scopes: tokens.scopes.clone(),
            received_at_ms: ms(tokens.received_at),
            expires_in_ms: tokens
                .expires_at
                .map(|expires_at| (expires_at - tokens.received_at).whole_milliseconds())
                .and_then(|lifetime| i64::try_from(lifetime).ok()),
            from_generation: connection.refresh_generation,
        };
        let plaintext = SecretString::from(serde_json::to_string(&answer).map_err(CoreError::internal)?);
        drop(answer);
        let now = self.clock.now();
        let mut entry = JournalEntry {
            id: journal_id.clone(),
            tenant_id: connection.tenant_id.clone(),
            connection_id: connection.id.clone(),
            operation: JournalOperation::Refresh,
            state: JournalState::Answered,
            sealed_answer: None,
            job_id: None,
            created_at: now,
            updated_at: now,
        };
        entry.sealed_answer = Some(keys.seal_str(&Self::journal_aad(&entry), &plaintext));
        let written = super::rotate::retry_journal_write(&connection.id, "refresh", || async {
            if failpoint_fails!("refresh.journal-write", connection.id.as_str()) {
                return Err(CoreError::Unavailable(
                    "journal write refused (failpoint)".to_owned(),
                ));
            }
            self.store
                .record_journal_answer(
                    entry.id.as_str(),
                    entry.sealed_answer.as_deref().unwrap_or_default(),
                    ms(entry.updated_at),
                )
                .await
                .map_err(CoreError::from)
        })
        .await;
        match written {
            Ok(true) => Ok(entry),
            Ok(false) => {
                // The entry went (its connection was deleted meanwhile): no one will hold these
                // tokens, so the grant is revoked.
                if let Ok(target) = self
                    .instances
                    .oauth_target_of(&connection.tenant_id, connection.instance_id.as_ref())
                    .await
                {
                    self.revoke_pair(&target, tokens).await;
                }
                Err(super::not_found())
            }
            Err(error) => {
                tracing::error!(connection_id = %connection.id, "a refresh answer could not be journalled");
                Err(error)
            }
        }
    }

    /// Step 4: applies an answered refresh to its connection, under this process's lease or,
    /// recovering a crashed holder's answer, under whichever lease (see [`LeaseCheck`]).
    async fn apply_refresh(&self, entry: &JournalEntry, lease: LeaseCheck) -> Result<Connection> {
        let sealed = entry
            .sealed_answer
            .as_deref()
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))?;
        let plaintext = self.vault.open(&Self::journal_aad(entry), sealed).await?;
        let answer: RefreshAnswer =
            serde_json::from_str(plaintext.expose_secret()).map_err(CoreError::internal)?;
        let tokens = answer.tokens()?;
        for _ in 0..3 {
            let current = self.fetch(&entry.tenant_id, &entry.connection_id).await?;
            if current.refresh_generation != answer.from_generation {
                // The connection holds newer tokens (a reconnect): this answer is history.
                tracing::warn!(connection_id = %current.id, "a refresh answer for an older generation is discarded");
                self.store.delete_journal(entry.id.as_str()).await?;
                return Ok(current);
            }
            // The credentials hash stays: it names the grant's identity, not a token.
            let mut next = current.clone();
            // `credentialsHash` names the grant's identity, which a refresh keeps.
            let keys = self.vault.active_keys(current.tenant_id.as_str()).await?;
            tokens.apply_to(&mut next, &keys);
            next.refresh_generation = current.refresh_generation.saturating_add(1);
            next.version = current.version.saturating_add(1);
            next.consecutive_failures = 0;
            // New tokens are no longer the leaked ones: GitLab revoked the old pair as it answered.
            let leak_replaced = current.status == ConnectionStatus::Compromised;
            if leak_replaced {
                next.status = ConnectionStatus::Active;
                next.status_reason = Some(super::leaks::replaced_after_leak(
                    current.status_reason.as_deref(),
                    None,
                ));
            } else if !next.status.needs_person() {
                next.status = ConnectionStatus::Active;
                next.status_reason = None;
            }
            next.last_checked_at = Some(tokens.received_at);
            next.updated_at = self.clock.now();
            let event = (current.status != next.status).then(|| {
                if leak_replaced {
                    self.event(
                        &next,
                        ConnectionEventKind::Rotated,
                        Some(current.status),
                        next.status_reason.clone(),
                    )
                } else {
                    self.event(
                        &next,
                        ConnectionEventKind::Recovered,
                        Some(current.status),
                        Some("the OAuth tokens were refreshed".to_owned()),
                    )
                }
            });
            let sealed = SealedPair::seal(&keys, &next, &tokens, ms(next.updated_at))?;
            let items = sealed.items(&next);
            let _forget = self.cache.forget_after(&next.id);
            if self
                .store
                .apply_journal(&JournalApply {
                    journal_id: entry.id.as_str(),
                    tokens: &items,
                    connection: &connection_row(&next),
                    expected_version: super::rows_version(current.version),
                    event: event.as_ref().map(event_row).as_ref(),
                    refresh: Some(RefreshHold {
                        lease_owner: match lease {
                            LeaseCheck::Held => Some(&self.lease_owner),
                            LeaseCheck::Any => None,
                        },
                        expected_generation: crate::rows::signed(current.refresh_generation),
                    }),
                })
                .await?
            {
                if current.status != next.status {
                    self.emit_status(&next, current.status, "the OAuth tokens were refreshed")
                        .await?;
                }
                return Ok(next);
            }
        }
        Err(CoreError::Conflict(
            "the connection kept changing while a refresh was applied; it is applied at the next attempt"
                .to_owned(),
        ))
    }

    /// The refresh token that ends the connection's grant now: the one a journalled but
    /// unapplied answer holds (GitLab already replaced the stored one), else the stored one.
    pub(super) async fn latest_refresh_token(&self, connection: &Connection) -> Result<Option<SecretString>> {
        for row in self
            .store
            .connection_journal(connection.tenant_id.as_str(), connection.id.as_str())
            .await?
        {
            let entry = JournalEntry::try_from(row)?;
            if entry.operation == JournalOperation::Refresh
                && entry.state == JournalState::Answered
                && let Some(sealed) = entry.sealed_answer.as_deref()
            {
                let plaintext = self.vault.open(&Self::journal_aad(&entry), sealed).await?;
                let answer: RefreshAnswer =
                    serde_json::from_str(plaintext.expose_secret()).map_err(CoreError::internal)?;
                return Ok(Some(SecretString::from(answer.refresh_token.as_str())));
            }
        }
        self.vault
            .get_secret(&super::oauth::refresh_slot(connection))
            .await
    }

    /// Settles a refresh entry a crashed process may have left behind. An answer is applied at
    /// once (the generation check keeps it from applying twice, should its holder still be
    /// alive); an entry whose request never left is dropped once its holder's lease ran out; a
    /// sent one stays for the next refresh, which finds out whether GitLab acted.
    pub(super) async fn recover_refresh(&self, entry: &JournalEntry) -> Result<()> {
        match entry.state {
            JournalState::Answered => self.apply_refresh(entry, LeaseCheck::Any).await.map(|_| ()),
            JournalState::Pending => {
                let now = self.clock.now();
                if self
                    .store
                    .take_refresh_lease(
                        entry.tenant_id.as_str(),
                        entry.connection_id.as_str(),
                        &self.lease_owner,
                        ms(now),
                        ms(now + self.lease_length()),
                    )
                    .await?
                {
                    self.store.delete_journal(entry.id.as_str()).await?;
                    self.store
                        .release_refresh_lease(
                            entry.tenant_id.as_str(),
                            entry.connection_id.as_str(),
                            &self.lease_owner,
                        )
                        .await?;
                }
                Ok(())
            }
            JournalState::Sent => Ok(()),
        }
    }

    /// Refreshes every OAuth connection whose proactive refresh is due and that was used within
    /// the configured days; others are left to refresh on their next read. Returns how many
    /// were refreshed.
    pub async fn refresh_due(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut refreshed = 0;
        for row in self.store.connections_due_for_refresh(ms(now), 500).await? {
            let connection = Connection::try_from(row)?;
            if connection.method != ConnectionMethod::OAuth || connection.status.needs_person() {
                continue;
            }
            // A new connection counts as used when it was created.
            let used_at = connection.last_used_at.unwrap_or(connection.created_at);
            if now - used_at > self.proactive_refresh_window {
                // Idle: its next read refreshes it. Off the schedule until then, so the sweep
                // does not find it again every time.
                let mut idle = connection.clone();
                idle.next_refresh_at = None;
                self.save(&idle, connection.version, None).await?;
                continue;
            }
            let id = connection.id.clone();
            match self.refresh_oauth(connection, RefreshReason::Proactive).await {
                Ok(after) if after.status != ConnectionStatus::NeedsReauth => refreshed += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::info!(connection_id = %id, error = %error, "a proactive refresh did not happen")
                }
            }
        }
        Ok(refreshed)
    }
}

/// Whether GitLab certainly did not act on a refresh, so the refresh token is still the current
/// one. A 5xx or a connection lost after sending may have rotated it.
fn certainly_not_applied(error: &GitLabError) -> bool {
    matches!(
        error,
        GitLabError::OAuth { .. }
            | GitLabError::BadRequest { .. }
            | GitLabError::RateLimited { .. }
            | GitLabError::Blocked { .. }
            | GitLabError::Tls { .. }
            | GitLabError::Unreachable { .. }
            | GitLabError::RedirectRefused { .. }
            | GitLabError::Config(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(issued: OffsetDateTime, lifetime: Duration) -> Connection {
        let mut connection = super::super::credentials::tests::connection(None, false, issued);
        connection.method = ConnectionMethod::OAuth;
        connection.token_type = None;
        connection.token_issued_at = Some(issued);
        connection.expires_at = Some(issued + lifetime);
        connection
    }

    #[test]
    fn reads_refresh_five_minutes_before_expiry_or_at_half_of_a_short_life() {
        let issued = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let two_hours = oauth(issued, Duration::hours(2));
        assert!(!needs_refresh(&two_hours, issued));
        assert!(!needs_refresh(&two_hours, issued + Duration::minutes(115)));
        assert!(needs_refresh(
            &two_hours,
            issued + Duration::minutes(115) + Duration::seconds(1)
        ));
        let short = oauth(issued, Duration::seconds(4));
        assert!(
            !needs_refresh(&short, issued),
            "a fresh short-lived token is used"
        );
        assert!(!needs_refresh(&short, issued + Duration::seconds(2)));
        assert!(needs_refresh(&short, issued + Duration::milliseconds(2_001)));
    }

    #[test]
    fn reads_hold_off_during_a_back_off_while_the_held_token_works() {
        let issued = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let now = issued + Duration::minutes(116);
        let mut failing = oauth(issued, Duration::hours(2));
        assert!(read_refreshes(&failing, now));
        failing.consecutive_failures = 1;
        failing.next_refresh_at = Some(now + Duration::seconds(30));
        assert!(!read_refreshes(&failing, now), "backing off");
        assert!(
            read_refreshes(&failing, now + Duration::seconds(30)),
            "back-off over"
        );
        assert!(
            read_refreshes(&failing, issued + Duration::hours(2)),
            "the held token expired: the read tries"
        );
        // A proactive schedule ahead is no back-off.
        failing.consecutive_failures = 0;
        assert!(read_refreshes(&failing, now));
    }

    #[test]
    fn proactive_refresh_comes_at_about_three_quarters_of_the_lifetime() {
        let issued = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for _ in 0..200 {
            let at = proactive_refresh_at(issued, issued + Duration::hours(2));
            let offset = at - issued;
            assert!(
                offset >= Duration::minutes(84) && offset <= Duration::minutes(96),
                "{offset}"
            );
        }
    }
}
