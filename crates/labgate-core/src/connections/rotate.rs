//! Rotation through the token journal. GitLab revokes the old token the moment it answers a
//! rotation, and revokes the whole token family when a revoked token is rotated again, so:
//!
//! 1. a `pending` journal entry is written before the request (one per connection: a unique
//!    index keeps a second rotation from starting);
//! 2. GitLab's answer is sealed into the entry (`answered`) before anything else;
//! 3. the new token, the row and an event are written and the entry deleted in one transaction.
//!
//! A restart applies answered entries. A pending entry whose answer never arrived is never
//! retried: the connection goes to `needs_attention` and a person supplies a new token.

use std::sync::atomic::Ordering;

use labgate_crypto::Aad;
use labgate_gitlab::{Credential, GitLabError};
use labgate_proto::connections::ConnectionView;
use labgate_store::{
    ConnectionEventRecord, ConnectionRecord, JournalApply, JournalRecord, StoreError, VaultItemKey,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, Duration, OffsetDateTime};

use super::health::status_for_expiry;
use super::{Connections, OWNER_TABLE, TOKEN_FIELD, view};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::new_id;
use crate::{CoreError, Result};

const JOURNAL_TABLE: &str = "token_journal";
const ANSWER_FIELD: &str = "answer";
/// A pending entry older than this has no request in flight any more (the client gives up on a
/// request long before): its answer is lost.
const PENDING_LOST_AFTER_MS: i64 = 5 * 60_000;
/// Lifetime asked for a rotated token.
const NEW_LIFETIME_DAYS: i64 = 90;

/// GitLab's answer as journalled (sealed as a whole).
#[derive(Serialize, Deserialize)]
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
}

fn date_ms(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text, &format).ok()?;
    let at = date.midnight().assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

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

impl Connections {
    /// Rotates the connection's token at GitLab now (`POST …/gitlab/{id}/rotate`).
    pub async fn rotate(&self, principal: &Principal, id: &str) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        let record = self.load(principal, id).await?;
        if record.status == "needs_attention" {
            return Err(CoreError::Conflict(
                "the connection needs a new token (a previous rotation's answer was lost); PATCH new credentials"
                    .to_owned(),
            ));
        }
        let rotated = self.rotate_record(record).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "app-connection.rotate",
                    resource_kind: "app-connection",
                    resource_id: Some(id),
                    details: Some(json!({"status": rotated.status, "version": rotated.version})),
                },
            )
            .await?;
        if rotated.status == "needs_attention" {
            return Err(CoreError::Unavailable(format!(
                "the rotation's outcome is unknown; the connection needs a new token: {}",
                rotated.status_reason.as_deref().unwrap_or_default()
            )));
        }
        Ok(view(&rotated))
    }

    /// Test hook: rotates as if `record` were the row just read (it may be stale).
    #[doc(hidden)]
    pub async fn rotate_stale_for_tests(&self, record: ConnectionRecord) -> Result<ConnectionRecord> {
        self.rotate_record(record).await
    }

    fn journal_aad<'a>(entry: &'a JournalRecord) -> Aad<'a> {
        Aad::new(&entry.tenant_id, JOURNAL_TABLE, &entry.id, ANSWER_FIELD)
    }

    /// Rotates through the journal; answers with the row as it ends up.
    pub(super) async fn rotate_record(&self, record: ConnectionRecord) -> Result<ConnectionRecord> {
        let now = self.clock.now_ms();
        let journal_id = new_id();
        match self
            .store
            .insert_journal(&journal_id, &record.tenant_id, &record.id, "rotate", now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(CoreError::Conflict(
                    "a rotation of this connection is already in progress".to_owned(),
                ));
            }
            Err(other) => return Err(other.into()),
        }
        // The journal entry is the rotation lock. Under it, make sure the row and the token are
        // still the ones this rotation was planned for: another process may have rotated, or a
        // person given new credentials, since the row was read.
        let record = match self.store.connection(&record.tenant_id, &record.id).await {
            Ok(current) if current.version == record.version => current,
            Ok(current) => {
                self.store.delete_journal(&journal_id).await?;
                return Ok(current);
            }
            Err(error) => {
                self.store.delete_journal(&journal_id).await?;
                return Err(error.into());
            }
        };
        let token = self.token_of(&record).await?;
        let held_hash = self
            .vault
            .hmac_hex(&record.tenant_id, token.expose_secret().as_bytes())
            .await?;
        if held_hash != record.credentials_hash {
            self.store.delete_journal(&journal_id).await?;
            return Err(CoreError::Conflict(
                "the connection's credentials changed meanwhile; nothing was rotated".to_owned(),
            ));
        }
        let client = match self.client_for(&record) {
            Ok(client) => client,
            Err(error) => {
                self.store.delete_journal(&journal_id).await?;
                return Err(error);
            }
        };
        let expires = (OffsetDateTime::from_unix_timestamp(now / 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            + Duration::days(NEW_LIFETIME_DAYS))
        .date();
        let result = client
            .rotate_self(&Credential::PrivateToken(token), Some(expires))
            .await;
        let created = match result {
            Ok(created) => created,
            Err(error) if certainly_not_applied(&error) => {
                self.store.delete_journal(&journal_id).await?;
                self.audit_system(
                    &record,
                    "app-connection.rotate-failed",
                    json!({"error": error.code()}),
                )
                .await?;
                return Err(CoreError::Unavailable(format!(
                    "GitLab refused the rotation: {error}"
                )));
            }
            Err(error) => {
                tracing::warn!(connection_id = %record.id, error = %error, "rotation answer lost");
                self.store.delete_journal(&journal_id).await?;
                return self
                    .needs_attention(
                        &record,
                        format!(
                            "GitLab's answer to the token rotation was lost ({}); the old token may be revoked. \
                             Create a new token in GitLab and update the connection's credentials",
                            error.code()
                        ),
                    )
                    .await;
            }
        };
        // 2. The answer, sealed, before anything else.
        let answer = Answer {
            token: created.token.expose_secret().to_owned(),
            token_id: created.info.id,
            expires_on: created.info.expires_at.map(|d| {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                d.format(&format).unwrap_or_default()
            }),
            name: created.info.name.clone(),
            scopes: created.info.scopes.clone(),
            from_hash: record.credentials_hash.clone(),
        };
        let plaintext = SecretString::from(serde_json::to_string(&answer).map_err(CoreError::internal)?);
        drop(answer);
        let entry = JournalRecord {
            id: journal_id.clone(),
            tenant_id: record.tenant_id.clone(),
            connection_id: record.id.clone(),
            operation: "rotate".to_owned(),
            state: "answered".to_owned(),
            sealed_answer: None,
            created_at: now,
            updated_at: now,
        };
        let sealed = self.vault.seal(&Self::journal_aad(&entry), &plaintext).await?;
        self.store
            .record_journal_answer(&journal_id, &sealed, self.clock.now_ms())
            .await?;
        if self.crash_after_journal.load(Ordering::SeqCst) {
            return Err(CoreError::Unavailable(
                "stopped after journalling (fault injection)".to_owned(),
            ));
        }
        // 3. Applied in one transaction.
        self.apply_answer(&JournalRecord {
            sealed_answer: Some(sealed),
            ..entry
        })
        .await
    }

    async fn needs_attention(&self, record: &ConnectionRecord, reason: String) -> Result<ConnectionRecord> {
        let mut next = record.clone();
        next.status = "needs_attention".to_owned();
        next.status_reason = Some(reason);
        next.updated_at = self.clock.now_ms();
        let saved = self.save_health(record, next).await?;
        self.audit_system(
            &saved,
            "app-connection.needs-attention",
            json!({"reason": "rotation answer lost"}),
        )
        .await?;
        Ok(saved)
    }

    /// Applies an answered journal entry to its connection.
    async fn apply_answer(&self, entry: &JournalRecord) -> Result<ConnectionRecord> {
        let sealed = entry
            .sealed_answer
            .as_deref()
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))?;
        let plaintext = self.vault.open(&Self::journal_aad(entry), sealed).await?;
        let answer: Answer = serde_json::from_str(plaintext.expose_secret()).map_err(CoreError::internal)?;
        let token = SecretString::from(answer.token);
        for _ in 0..3 {
            let current = self
                .store
                .connection(&entry.tenant_id, &entry.connection_id)
                .await?;
            if !answer.from_hash.is_empty() && current.credentials_hash != answer.from_hash {
                tracing::warn!(
                    connection_id = %current.id,
                    "a rotation answer arrived for a token that was replaced meanwhile; it is discarded"
                );
                self.store.delete_journal(&entry.id).await?;
                return Ok(current);
            }
            let now = self.clock.now_ms();
            let mut next = current.clone();
            next.token_id = i64::try_from(answer.token_id).ok();
            next.token_name = Some(answer.name.clone());
            next.scopes = serde_json::to_string(&answer.scopes).unwrap_or_else(|_| "[]".to_owned());
            next.expires_at = answer.expires_on.as_deref().and_then(date_ms);
            next.credentials_hash = self
                .vault
                .hmac_hex(&entry.tenant_id, token.expose_secret().as_bytes())
                .await?;
            let (status, reason) = status_for_expiry(next.expires_at, now);
            next.status = status.to_owned();
            next.status_reason = reason;
            next.consecutive_failures = 0;
            next.last_rotated_at = Some(now);
            next.last_checked_at = Some(now);
            next.version = current.version.saturating_add(1);
            next.updated_at = now;
            let sealed_token = self
                .vault
                .seal(
                    &Aad::new(&entry.tenant_id, OWNER_TABLE, &entry.connection_id, TOKEN_FIELD),
                    &token,
                )
                .await?;
            let data_key_id = labgate_crypto::sealed_key_id(&sealed_token)?;
            let event = ConnectionEventRecord {
                id: new_id(),
                tenant_id: entry.tenant_id.clone(),
                connection_id: entry.connection_id.clone(),
                kind: "rotated".to_owned(),
                from_status: Some(current.status.clone()),
                to_status: Some(next.status.clone()),
                reason: Some(format!("new token id {}", answer.token_id)),
                created_at: now,
            };
            let applied = self
                .store
                .apply_journal(&JournalApply {
                    journal_id: &entry.id,
                    token_slot: VaultItemKey {
                        tenant_id: &entry.tenant_id,
                        owner_table: OWNER_TABLE,
                        owner_id: &entry.connection_id,
                        field: TOKEN_FIELD,
                    },
                    sealed_token: &sealed_token,
                    data_key_id: &data_key_id,
                    connection: &next,
                    expected_version: current.version,
                    event: &event,
                })
                .await?;
            if applied {
                self.audit_system(
                    &next,
                    "app-connection.rotated",
                    json!({"tokenId": answer.token_id}),
                )
                .await?;
                self.webhooks
                    .emit(
                        &next.tenant_id,
                        "connection.rotated",
                        json!({"connectionId": next.id, "name": next.name, "app": next.app, "version": next.version}),
                    )
                    .await?;
                if current.status != next.status {
                    self.emit_status(&next, &current.status, "rotated").await?;
                }
                return Ok(next);
            }
        }
        Err(CoreError::Conflict(
            "the connection kept changing while a rotation was applied; it is applied at the next check"
                .to_owned(),
        ))
    }

    /// Finishes what an interrupted rotation left for one connection.
    pub(super) async fn recover_connection_journal(&self, record: &ConnectionRecord) -> Result<()> {
        for entry in self
            .store
            .connection_journal(&record.tenant_id, &record.id)
            .await?
        {
            self.recover_entry(&entry).await?;
        }
        Ok(())
    }

    async fn recover_entry(&self, entry: &JournalRecord) -> Result<()> {
        match entry.state.as_str() {
            "answered" => {
                self.apply_answer(entry).await?;
            }
            _ if self.clock.now_ms() - entry.created_at >= PENDING_LOST_AFTER_MS => {
                let record = self
                    .store
                    .connection(&entry.tenant_id, &entry.connection_id)
                    .await?;
                self.needs_attention(
                    &record,
                    "a token rotation was interrupted before GitLab's answer was stored; the old token may be \
                     revoked. Create a new token in GitLab and update the connection's credentials"
                        .to_owned(),
                )
                .await?;
                self.store.delete_journal(&entry.id).await?;
            }
            // Possibly still in flight in another process.
            _ => {}
        }
        Ok(())
    }

    /// Applies every journal entry left behind (run at start and by each health sweep).
    /// Returns how many entries were settled.
    pub async fn recover_journal(&self) -> Result<usize> {
        let mut settled = 0;
        for entry in self.store.all_journal(1_000).await? {
            let id = entry.id.clone();
            match self.recover_entry(&entry).await {
                Ok(()) => settled += 1,
                Err(error) => tracing::warn!(journal_id = %id, error = %error, "journal entry not recovered"),
            }
        }
        Ok(settled)
    }
}
