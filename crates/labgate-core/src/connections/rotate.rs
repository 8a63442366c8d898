//! Rotation through the token journal. GitLab revokes the old token the moment it answers a
//! rotation, and revokes the whole token family when a revoked token is rotated again, so:
//!
//! 1. a `pending` journal entry is written before the request (one per connection: a unique
//!    index keeps a second rotation from starting);
//! 2. GitLab's answer is sealed into the entry (`answered`) before anything else;
//! 3. the new token, the row and an event are written and the entry deleted in one transaction.
//!
//! Each rotation runs as a job held by the process that started it ([`Connections::
//! run_token_change`]), in a task of its own: neither a caller that goes away nor a lost job
//! lease cancels it between GitLab's answer and the journal write. Its journal entry names the
//! job, so recovery can tell an operation still in flight (its job is held under a live lease)
//! from one whose process died. Recovery applies answered entries and releases pending ones at
//! once; a sent entry whose answer never arrived is never retried: the connection goes to
//! `needs_attention` and a person supplies a new token.

use labgate_crypto::Aad;
use labgate_gitlab::{CreatedToken, Credential, GitLabError};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::connections::ConnectionView;
use labgate_proto::webhooks::WebhookEventType;
use labgate_store::{JournalApply, NewJournalEntry, SealedItem, StoreError, VaultItemKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, Duration};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::model::{
    Connection, ConnectionEventKind, ConnectionStatus, JournalEntry, JournalOperation, JournalState,
};
use super::rows::{connection_row, event_row};
use super::{Connections, OWNER_TABLE, TOKEN_FIELD, health::status_for_expiry, view};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::{ConnectionId, JobId, JournalId};
use crate::jobs::{Job, JobKind, JobSpec, Settled};
use crate::rows::ms;
use crate::{CoreError, Result};

const JOURNAL_TABLE: &str = "token_journal";
const ANSWER_FIELD: &str = "answer";
/// An entry written before jobs followed rotations, and older than this, has no request in flight
/// any more (the client gives up on a request long before).
const UNFOLLOWED_LOST_AFTER: Duration = Duration::minutes(5);
/// Claims of a token change's job: the one of the process that starts it, then takeovers by
/// workers when that process died (each settles from the journal; none calls GitLab).
const TOKEN_CHANGE_ATTEMPTS: u32 = 3;
/// Lifetime asked for a rotated token.
const NEW_LIFETIME: Duration = Duration::days(90);

/// GitLab's answer as journalled (sealed as a whole).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
struct Answer {
    token: String,
    token_id: u64,
    expires_on: Option<String>,
    name: String,
    scopes: Vec<String>,
    /// `credentialsHash` of the token that was rotated: the answer applies only while the
    /// connection still holds that token (new credentials given meanwhile win).
    #[serde(default)]
    from_hash: String,
    /// Where the token lives, so a token whose connection is gone can still be revoked.
    #[serde(default)]
    instance_url: String,
}

/// How often, and how patiently, GitLab's answer is written to the journal: the new token
/// exists nowhere else, and GitLab has already revoked the old one.
pub(super) const JOURNAL_WRITE_ATTEMPTS: u32 = 8;
pub(super) const JOURNAL_WRITE_FIRST_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Writes a journalled answer of `operation` with `write`, retried with doubling pauses (a locked
/// SQLite file, a dropped PostgreSQL connection): `Ok(false)` when its entry is gone, the last
/// error when every attempt failed.
pub(super) async fn retry_journal_write<F, Fut>(
    connection_id: &ConnectionId,
    operation: &str,
    mut write: F,
) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let mut delay = JOURNAL_WRITE_FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match write().await {
            Ok(written) => return Ok(written),
            Err(error) if attempt >= JOURNAL_WRITE_ATTEMPTS => return Err(error),
            Err(error) => {
                tracing::warn!(connection_id = %connection_id, attempt, error = %error, "could not journal a {operation} answer; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
        attempt += 1;
    }
}

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Whether GitLab certainly did not act on the request, so the old token is still the current
/// one. Anything else (no answer, a broken connection after sending, a 5xx) may have rotated it.
fn certainly_not_applied(error: &GitLabError) -> bool {
    matches!(
        error,
        GitLabError::Unauthorized { .. }
            | GitLabError::InsufficientScope { .. }
            | GitLabError::Forbidden { .. }
            | GitLabError::NotFound { .. }
            | GitLabError::Validation { .. }
            | GitLabError::BadRequest { .. }
            | GitLabError::MethodNotAllowed { .. }
            | GitLabError::RateLimited { .. }
            | GitLabError::Blocked { .. }
            | GitLabError::Tls { .. }
            | GitLabError::Unreachable { .. }
            | GitLabError::RedirectRefused { .. }
            | GitLabError::Config(_)
    )
}

/// How a token change taken over from a process that died came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenChangeOutcome {
    /// GitLab's answer was applied: the connection holds the new token.
    Applied,
    /// No new token came of it (its request never reached GitLab, or GitLab refused it); the
    /// connection is as it was.
    NotApplied,
    /// GitLab may have acted but its answer is lost: the connection needs a new token.
    NeedsAttention { reason: String },
    /// The connection was deleted meanwhile.
    ConnectionGone,
}

impl Connections {
    /// Rotates the connection's token at GitLab now and waits until the rotation has ended.
    pub async fn rotate(&self, principal: &Principal, id: &str) -> Result<ConnectionView> {
        match self.rotate_within(principal, id, None).await? {
            Settled::Done(view) => Ok(view),
            Settled::Running(job) => Err(CoreError::Unavailable(format!(
                "the rotation goes on in job {}",
                job.id
            ))),
        }
    }

    /// `POST …/gitlab/{id}/rotate`: rotates the connection's token at GitLab, waiting up to
    /// `wait` (`None`: until it ends) before answering with the job that follows it.
    pub async fn rotate_within(
        &self,
        principal: &Principal,
        id: &str,
        wait: Option<std::time::Duration>,
    ) -> Result<Settled<ConnectionView>> {
        principal.require(Access::Write)?;
        let loaded = self.load(principal, id).await?;
        if loaded.method == super::model::ConnectionMethod::OAuth {
            return Err(CoreError::Conflict(
                "OAuth connections are refreshed, not rotated: POST …/refresh".to_owned(),
            ));
        }
        // What an earlier rotation left behind is settled first: an answer is applied, and an
        // entry whose operation stopped without sending its request no longer holds the lock.
        self.recover_connection_journal(&loaded).await?;
        let connection = self.reload(&loaded).await?;
        if connection.status == ConnectionStatus::NeedsAttention {
            return Err(CoreError::Conflict(
                "the connection needs a new token (a previous rotation's answer was lost); PATCH new credentials"
                    .to_owned(),
            ));
        }
        let this = self.clone();
        let principal = principal.clone();
        let planned = connection.clone();
        self.run_token_change(
            JobKind::ConnectionRotate,
            &connection,
            wait,
            move |job_id| async move { this.rotate_for(&principal, &job_id, planned).await },
        )
        .await
    }

    /// A rotation `principal` asked for, run as job `job_id`: rotated and audited, and an error
    /// when its outcome is unknown (the connection now needs a new token).
    async fn rotate_for(
        &self,
        principal: &Principal,
        job_id: &JobId,
        planned: Connection,
    ) -> Result<ConnectionView> {
        let rotated = self.rotate_connection(job_id, planned).await?;
        let details = json!({"status": rotated.status, "version": rotated.version, "jobId": job_id});
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionRotate,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(rotated.id.as_str()),
                    details: Some(details),
                },
            )
            .await?;
        if rotated.status == ConnectionStatus::NeedsAttention {
            return Err(CoreError::Unavailable(format!(
                "the rotation's outcome is unknown; the connection needs a new token: {}",
                rotated.status_reason.as_deref().unwrap_or_default()
            )));
        }
        Ok(view(&rotated))
    }

    /// Runs `change`, a call that changes `connection`'s token at GitLab (a rotation, an OAuth
    /// refresh), as a job of `kind` about the connection, held by this process in a task that
    /// neither a caller going away nor a lost lease cancels. Waits up to `wait` (`None`: until it
    /// ends). `change` gets the job's id and names it in the journal entry it opens, so recovery
    /// knows whether the operation may still be in flight; if this process dies, a worker takes
    /// the job over and finishes it from the journal ([`Connections::settle_token_change`]).
    pub(crate) async fn run_token_change<T, F, Fut>(
        &self,
        kind: JobKind,
        connection: &Connection,
        wait: Option<std::time::Duration>,
        change: F,
    ) -> Result<Settled<T>>
    where
        F: FnOnce(JobId) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let spec = JobSpec {
            tenant_id: Some(connection.tenant_id.clone()),
            max_attempts: TOKEN_CHANGE_ATTEMPTS,
            ..JobSpec::new(kind, json!({"connectionId": connection.id}))
        };
        self.jobs
            .run_detached(&spec, connection.id.as_str(), wait, change)
            .await
    }

    pub(super) fn journal_aad(entry: &JournalEntry) -> Aad<'_> {
        Aad::new(
            entry.tenant_id.as_str(),
            JOURNAL_TABLE,
            entry.id.as_str(),
            ANSWER_FIELD,
        )
    }

    /// Rotates through the journal as job `job_id`; answers with the connection as it ends up.
    /// `planned` is the connection as read when the rotation was decided; it may be stale by now.
    /// Runs inside the job's own task ([`Connections::run_token_change`]).
    pub(super) async fn rotate_connection(&self, job_id: &JobId, planned: Connection) -> Result<Connection> {
        failpoint!(
            "rotation.before-lock",
            planned.id.as_str(),
            Err(CoreError::Unavailable(
                "rotation interrupted before the lock (failpoint)".to_owned()
            ))
        );
        let now = self.clock.now();
        let journal_id = JournalId::generate();
        match self
            .store
            .insert_journal(&NewJournalEntry {
                id: journal_id.as_str(),
                tenant_id: planned.tenant_id.as_str(),
                connection_id: planned.id.as_str(),
                operation: JournalOperation::Rotate.as_str(),
                job_id: Some(job_id.as_str()),
                now: ms(now),
            })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(self.in_progress(&planned).await),
            Err(other) => return Err(other.into()),
        }
        let result = self.rotate_under_lock(&journal_id, job_id, planned).await;
        if let Err(RotationStop::Released(_)) = &result {
            self.store.delete_journal(journal_id.as_str()).await?;
        }
        match result {
            Ok(connection) => Ok(connection),
            Err(RotationStop::Released(outcome) | RotationStop::Kept(outcome)) => outcome,
        }
    }

    /// The refusal of a rotation while another token change holds the connection's lock, naming
    /// the job to follow when there is one.
    async fn in_progress(&self, connection: &Connection) -> CoreError {
        let holder = self
            .store
            .connection_journal(connection.tenant_id.as_str(), connection.id.as_str())
            .await
            .ok()
            .and_then(|entries| entries.into_iter().find_map(|entry| entry.job_id));
        CoreError::Conflict(match holder {
            Some(job) => format!("a rotation of this connection is already in progress (job {job})"),
            None => "a rotation of this connection is already in progress".to_owned(),
        })
    }

    /// Steps 2 and 3 of a rotation while its journal entry holds the lock.
    async fn rotate_under_lock(
        &self,
        journal_id: &JournalId,
        job_id: &JobId,
        planned: Connection,
    ) -> std::result::Result<Connection, RotationStop> {
        let connection = self.confirm_plan(planned).await?;
        let client = self
            .client_for(&connection)
            .await
            .map_err(|e| RotationStop::Released(Err(e)))?;
        let token = self
            .current_credential(&connection)
            .await
            .map_err(|e| RotationStop::Released(Err(e)))?;
        // The keys that will seal GitLab's answer are fetched first: once GitLab has answered,
        // nothing that can fail should stand between the answer and the journal.
        let keys = self
            .vault
            .active_keys(connection.tenant_id.as_str())
            .await
            .map_err(|e| RotationStop::Released(Err(e)))?;
        failpoint!(
            "rotation.before-send",
            connection.id.as_str(),
            Err(RotationStop::Kept(Err(CoreError::Unavailable(
                "stopped before the request was sent (failpoint)".to_owned()
            ))))
        );
        match self
            .store
            .mark_journal_sent(journal_id.as_str(), ms(self.clock.now()))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(RotationStop::Released(Err(CoreError::Conflict(
                    "the rotation's journal entry went before its request was sent; nothing was rotated"
                        .to_owned(),
                ))));
            }
            Err(error) => return Err(RotationStop::Released(Err(error.into()))),
        }
        let expires = (self.clock.now() + NEW_LIFETIME).date();
        let created = match client
            .rotate_self(&Credential::PrivateToken(token), Some(expires))
            .await
        {
            Ok(created) => created,
            Err(error) if certainly_not_applied(&error) => {
                let audited = self
                    .audit_system(
                        &connection,
                        AuditAction::ConnectionRotateFailed,
                        json!({"error": error.code()}),
                    )
                    .await;
                return Err(RotationStop::Released(audited.and(Err(CoreError::Unavailable(
                    format!("GitLab refused the rotation: {error}"),
                )))));
            }
            Err(error) => {
                tracing::warn!(connection_id = %connection.id, error = %error, "rotation answer lost");
                let reason = format!(
                    "GitLab's answer to the token rotation was lost ({}); the old token may be revoked. \
                     Create a new token in GitLab and update the connection's credentials",
                    error.code()
                );
                return Err(RotationStop::Released(
                    self.needs_attention(&connection, reason).await,
                ));
            }
        };
        let entry = self
            .journal_answer(journal_id, job_id, &connection, &created, &keys)
            .await
            .map_err(|e| RotationStop::Kept(Err(e)))?;
        failpoint!(
            "rotation.after-journal",
            connection.id.as_str(),
            Err(RotationStop::Kept(Err(CoreError::Unavailable(
                "stopped after journalling (failpoint)".to_owned()
            ))))
        );
        self.apply_answer(&entry)
            .await
            .map_err(|e| RotationStop::Kept(Err(e)))
    }

    /// Under the lock, makes sure the row and the token are still the ones the rotation was
    /// planned for: another process may have rotated, or a person given new credentials.
    async fn confirm_plan(&self, planned: Connection) -> std::result::Result<Connection, RotationStop> {
        let current = match self.reload(&planned).await {
            Ok(current) if current.version == planned.version => current,
            Ok(current) => return Err(RotationStop::Released(Ok(current))),
            Err(error) => return Err(RotationStop::Released(Err(error))),
        };
        let token = self
            .current_credential(&current)
            .await
            .map_err(|e| RotationStop::Released(Err(e)))?;
        let held_hash = self
            .credentials_hash(&current.tenant_id, &token)
            .await
            .map_err(|e| RotationStop::Released(Err(e)))?;
        if held_hash != current.credentials_hash {
            return Err(RotationStop::Released(Err(CoreError::Conflict(
                "the connection's credentials changed meanwhile; nothing was rotated".to_owned(),
            ))));
        }
        Ok(current)
    }

    /// Step 2: GitLab's answer, sealed into the journal entry before anything else. The write is
    /// retried (a locked SQLite file, a dropped PostgreSQL connection) and its result checked: an
    /// entry that went meanwhile is written afresh.
    async fn journal_answer(
        &self,
        journal_id: &JournalId,
        job_id: &JobId,
        connection: &Connection,
        created: &CreatedToken,
        keys: &labgate_crypto::TenantKeys,
    ) -> Result<JournalEntry> {
        let answer = Answer {
            token: created.token.expose_secret().to_owned(),
            token_id: created.info.id,
            expires_on: created
                .info
                .expires_at
                .map(|date| date.format(DATE_FORMAT).unwrap_or_default()),
            name: created.info.name.clone(),
            scopes: created.info.scopes.clone(),
            from_hash: connection.credentials_hash.clone(),
            instance_url: connection.instance_url.clone(),
        };
        let plaintext = SecretString::from(serde_json::to_string(&answer).map_err(CoreError::internal)?);
        drop(answer);
        let now = self.clock.now();
        let mut entry = JournalEntry {
            id: journal_id.clone(),
            tenant_id: connection.tenant_id.clone(),
            connection_id: connection.id.clone(),
            operation: JournalOperation::Rotate,
            state: JournalState::Answered,
            sealed_answer: None,
            job_id: Some(job_id.clone()),
            created_at: now,
            updated_at: now,
        };
        let sealed = keys.seal_str(&Self::journal_aad(&entry), &plaintext);
        entry.sealed_answer = Some(sealed);
        let written = retry_journal_write(&connection.id, "rotation", || self.write_answer(&entry)).await;
        match written {
            Ok(true) => Ok(entry),
            Ok(false) => {
                // The connection was deleted while its token was being rotated: the new token
                // must not live on at GitLab with nobody holding it.
                self.revoke_orphan(&connection.instance_url, &created.token).await;
                Err(super::not_found())
            }
            Err(error) => {
                tracing::error!(connection_id = %connection.id, "a rotation answer could not be journalled; the connection needs a new token");
                Err(error)
            }
        }
    }

    /// Revokes a token that no connection holds any more, through the token itself.
    async fn revoke_orphan(&self, instance_url: &str, token: &SecretString) {
        let outcome = match labgate_gitlab::GitLabBaseUrl::parse(instance_url) {
            Ok(base) => match self.client(&base) {
                Ok(client) => client
                    .revoke_self(&Credential::PrivateToken(token.clone()))
                    .await
                    .map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = outcome {
            tracing::error!(error = %error, "a rotated token of a deleted connection could not be revoked");
        }
    }

    /// One attempt at storing an answered entry; false when its connection is gone.
    async fn write_answer(&self, entry: &JournalEntry) -> Result<bool> {
        if failpoint_fails!("rotation.journal-write", entry.connection_id.as_str()) {
            return Err(CoreError::Unavailable(
                "journal write refused (failpoint)".to_owned(),
            ));
        }
        let sealed = entry.sealed_answer.as_deref().unwrap_or_default();
        if self
            .store
            .record_journal_answer(entry.id.as_str(), sealed, ms(entry.updated_at))
            .await?
        {
            return Ok(true);
        }
        // The entry went while the request was out: a recovery gave up on it, or the connection
        // was deleted (entries go with their connection).
        match self.fetch(&entry.tenant_id, &entry.connection_id).await {
            Ok(_) => {}
            Err(CoreError::NotFound(_)) => return Ok(false),
            Err(other) => return Err(other),
        }
        self.store
            .insert_answered_journal(&labgate_store::JournalRecord {
                id: entry.id.to_string(),
                tenant_id: entry.tenant_id.to_string(),
                connection_id: entry.connection_id.to_string(),
                operation: entry.operation.as_str().to_owned(),
                state: entry.state.as_str().to_owned(),
                sealed_answer: entry.sealed_answer.clone(),
                job_id: entry.job_id.as_ref().map(ToString::to_string),
                created_at: ms(entry.created_at),
                updated_at: ms(entry.updated_at),
            })
            .await
            .map(|()| true)
            .map_err(CoreError::from)
    }

    async fn needs_attention(&self, connection: &Connection, reason: String) -> Result<Connection> {
        let mut next = connection.clone();
        next.status = ConnectionStatus::NeedsAttention;
        next.status_reason = Some(reason);
        next.updated_at = self.clock.now();
        let saved = self.save_health(connection, next).await?;
        self.audit_system(
            &saved,
            AuditAction::ConnectionNeedsAttention,
            json!({"reason": "rotation answer lost"}),
        )
        .await?;
        Ok(saved)
    }

    /// Step 3: applies an answered journal entry to its connection.
    async fn apply_answer(&self, entry: &JournalEntry) -> Result<Connection> {
        let sealed = entry
            .sealed_answer
            .as_deref()
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))?;
        let plaintext = self.vault.open(&Self::journal_aad(entry), sealed).await?;
        let answer: Answer = serde_json::from_str(plaintext.expose_secret()).map_err(CoreError::internal)?;
        let token = SecretString::from(answer.token.as_str());
        for _ in 0..3 {
            let current = self.fetch(&entry.tenant_id, &entry.connection_id).await?;
            if !answer.from_hash.is_empty() && current.credentials_hash != answer.from_hash {
                tracing::warn!(
                    connection_id = %current.id,
                    "a rotation answer arrived for a token that was replaced meanwhile; it is discarded"
                );
                self.store.delete_journal(entry.id.as_str()).await?;
                return Ok(current);
            }
            let next = self.rotated(&current, &answer, &token).await?;
            if self
                .store_rotation(entry, &current, &next, &token, answer.token_id)
                .await?
            {
                self.announce_rotation(&current, &next, answer.token_id).await?;
                return Ok(next);
            }
        }
        Err(CoreError::Conflict(
            "the connection kept changing while a rotation was applied; it is applied at the next check"
                .to_owned(),
        ))
    }

    /// The connection as it is once the answered rotation applies.
    async fn rotated(
        &self,
        current: &Connection,
        answer: &Answer,
        token: &SecretString,
    ) -> Result<Connection> {
        let now = self.clock.now();
        let mut next = current.clone();
        next.token_id = Some(answer.token_id);
        next.token_name = Some(answer.name.clone());
        next.scopes = answer.scopes.iter().cloned().collect();
        next.expires_at = answer
            .expires_on
            .as_deref()
            .and_then(|text| Date::parse(text, DATE_FORMAT).ok())
            .map(|date| date.midnight().assume_utc());
        next.credentials_hash = self.credentials_hash(&current.tenant_id, token).await?;
        (next.status, next.status_reason) = status_for_expiry(next.expires_at, now);
        if current.status == ConnectionStatus::Compromised {
            // GitLab revoked the leaked token as it answered: the connection holds a clean one.
            next.status_reason = Some(super::leaks::replaced_after_leak(
                current.status_reason.as_deref(),
                next.status_reason.as_deref(),
            ));
        }
        next.consecutive_failures = 0;
        next.last_rotated_at = Some(now);
        next.last_checked_at = Some(now);
        next.version = current.version.saturating_add(1);
        next.updated_at = now;
        Ok(next)
    }

    /// Writes the new token, the row and the event and deletes the journal entry, in one
    /// transaction; false when the row changed meanwhile.
    async fn store_rotation(
        &self,
        entry: &JournalEntry,
        current: &Connection,
        next: &Connection,
        token: &SecretString,
        token_id: u64,
    ) -> Result<bool> {
        let sealed_token = self
            .vault
            .seal(
                &Aad::new(
                    entry.tenant_id.as_str(),
                    OWNER_TABLE,
                    entry.connection_id.as_str(),
                    TOKEN_FIELD,
                ),
                token,
            )
            .await?;
        let data_key_id = labgate_crypto::sealed_key_id(&sealed_token)?;
        let event = self.event(
            next,
            ConnectionEventKind::Rotated,
            Some(current.status),
            Some(match (current.status, next.status_reason.as_deref()) {
                (ConnectionStatus::Compromised, Some(reason)) => format!("{reason}; new token id {token_id}"),
                _ => format!("new token id {token_id}"),
            }),
        );
        let tokens = [SealedItem {
            key: VaultItemKey {
                tenant_id: entry.tenant_id.as_str(),
                owner_table: OWNER_TABLE,
                owner_id: entry.connection_id.as_str(),
                field: TOKEN_FIELD,
            },
            sealed: &sealed_token,
            data_key_id: &data_key_id,
            now: ms(next.updated_at),
        }];
        let _forget = self.cache.forget_after(&next.id);
        Ok(self
            .store
            .apply_journal(&JournalApply {
                journal_id: entry.id.as_str(),
                tokens: &tokens,
                connection: &connection_row(next),
                expected_version: super::rows_version(current.version),
                event: Some(&event_row(&event)),
                refresh: None,
            })
            .await?)
    }

    /// Tells the audit log and subscribers about an applied rotation.
    async fn announce_rotation(&self, current: &Connection, next: &Connection, token_id: u64) -> Result<()> {
        self.audit_system(next, AuditAction::ConnectionRotated, json!({"tokenId": token_id}))
            .await?;
        self.webhooks
            .emit(
                &next.tenant_id,
                WebhookEventType::ConnectionRotated,
                json!({"connectionId": next.id, "name": next.name, "app": next.app, "version": next.version}),
            )
            .await?;
        if current.status != next.status {
            self.emit_status(next, current.status, "rotated").await?;
        }
        Ok(())
    }

    /// Finishes what an interrupted rotation left for one connection.
    pub(super) async fn recover_connection_journal(&self, connection: &Connection) -> Result<()> {
        for row in self
            .store
            .connection_journal(connection.tenant_id.as_str(), connection.id.as_str())
            .await?
        {
            let entry = JournalEntry::try_from(row)?;
            let abandoned = self.is_abandoned(&entry).await?;
            self.recover_entry(&entry, abandoned).await?;
        }
        Ok(())
    }

    /// Whether no operation stands behind `entry` any more: its job has finished, or the lease
    /// of whoever held it lapsed (that process died), so its request cannot still be on its way.
    /// Entries written before jobs followed token changes go by their age.
    async fn is_abandoned(&self, entry: &JournalEntry) -> Result<bool> {
        let now = self.clock.now();
        match &entry.job_id {
            Some(job_id) => Ok(!self
                .jobs
                .find(job_id)
                .await?
                .is_some_and(|job| job.is_held_at(now))),
            None => Ok(now - entry.updated_at >= UNFOLLOWED_LOST_AFTER),
        }
    }

    /// Settles one entry: an answer is applied; an abandoned entry without one is released when
    /// its request never left (nothing changed at GitLab), and sets `needs_attention` when it
    /// may have (the answer is lost). An entry whose operation may still be running is left.
    async fn recover_entry(&self, entry: &JournalEntry, abandoned: bool) -> Result<()> {
        if entry.operation == JournalOperation::Refresh {
            return self.recover_refresh(entry).await;
        }
        match entry.state {
            JournalState::Answered => {
                self.apply_answer(entry).await?;
            }
            JournalState::Pending if abandoned => {
                self.store.delete_journal(entry.id.as_str()).await?;
            }
            JournalState::Sent if abandoned => {
                let connection = self.fetch(&entry.tenant_id, &entry.connection_id).await?;
                self.needs_attention(
                    &connection,
                    "a token rotation was interrupted before GitLab's answer was stored; the old token may be \
                     revoked. Create a new token in GitLab and update the connection's credentials"
                        .to_owned(),
                )
                .await?;
                self.store.delete_journal(entry.id.as_str()).await?;
            }
            // Possibly still in flight, in this process or another.
            JournalState::Pending | JournalState::Sent => {}
        }
        Ok(())
    }

    /// Applies every journal entry left behind (run at start and by each health sweep).
    /// Returns how many entries were settled.
    pub async fn recover_journal(&self) -> Result<usize> {
        let mut settled = 0;
        for row in self.store.all_journal(1_000).await? {
            let id = row.id.clone();
            let outcome = match JournalEntry::try_from(row) {
                Ok(entry) => match self.is_abandoned(&entry).await {
                    Ok(abandoned) => self.recover_entry(&entry, abandoned).await,
                    Err(error) => Err(error),
                },
                Err(error) => Err(error.into()),
            };
            match outcome {
                Ok(()) => settled += 1,
                Err(error) => tracing::warn!(journal_id = %id, error = %error, "journal entry not recovered"),
            }
        }
        Ok(settled)
    }

    /// Finishes a token change taken over from a process that died, from the journal alone:
    /// GitLab is never called again. The job's own entry counts as abandoned (the worker calling
    /// this holds the job now); the outcome is read from the connection as recovery left it.
    pub async fn settle_token_change(&self, job: &Job) -> Result<TokenChangeOutcome> {
        if job.kind != JobKind::ConnectionRotate && job.kind != JobKind::ConnectionRefresh {
            return Err(CoreError::validation(
                "kind",
                format!("{} jobs are not token changes", job.kind),
            ));
        }
        let (Some(tenant_id), Some(connection_id)) = (
            job.tenant_id.as_ref(),
            job.payload
                .get("connectionId")
                .and_then(serde_json::Value::as_str)
                .and_then(ConnectionId::parse),
        ) else {
            return Err(CoreError::validation(
                "payload",
                "a token change names its tenant and its connection (connectionId)",
            ));
        };
        let connection = match self.fetch(tenant_id, &connection_id).await {
            Ok(connection) => connection,
            Err(CoreError::NotFound(_)) => return Ok(TokenChangeOutcome::ConnectionGone),
            Err(other) => return Err(other),
        };
        for row in self
            .store
            .connection_journal(tenant_id.as_str(), connection_id.as_str())
            .await?
        {
            let entry = JournalEntry::try_from(row)?;
            let abandoned = entry.job_id.as_ref() == Some(&job.id) || self.is_abandoned(&entry).await?;
            self.recover_entry(&entry, abandoned).await?;
        }
        let after = match self.reload(&connection).await {
            Ok(after) => after,
            Err(CoreError::NotFound(_)) => return Ok(TokenChangeOutcome::ConnectionGone),
            Err(other) => return Err(other),
        };
        let changed_at = match job.kind {
            JobKind::ConnectionRefresh => after.token_issued_at,
            _ => after.last_rotated_at,
        };
        Ok(if changed_at.is_some_and(|at| at >= job.created_at) {
            TokenChangeOutcome::Applied
        } else if matches!(
            after.status,
            ConnectionStatus::NeedsAttention | ConnectionStatus::NeedsReauth
        ) {
            TokenChangeOutcome::NeedsAttention {
                reason: after.status_reason.unwrap_or_default(),
            }
        } else {
            TokenChangeOutcome::NotApplied
        })
    }
}

/// Why a rotation stopped before applying an answer, and whether its journal entry goes
/// (`Released`: GitLab certainly holds no new token from it) or stays for recovery (`Kept`).
enum RotationStop {
    Released(Result<Connection>),
    Kept(Result<Connection>),
}
